//! Points where the tests hold a merge, behind the cargo feature `test-hooks` (enabled only by
//! the merger's own dev-dependency on itself, so a release build has none of it). Both wait for
//! a signal — a file the test creates — never for a length of time:
//! - `SMALLFILES_MERGER_TEST_PAUSE=<stage>:<file>` holds a safe swap after it recorded `written`
//!   or `switched` until `<file>` exists (or the task is cancelled), so that a test can change
//!   the table or kill the merger at that point;
//! - `SMALLFILES_MERGER_TEST_HOLD_RETIRED=<file>` keeps replaced directories until `<file>`
//!   exists, whatever their rollback window says.

use std::path::PathBuf;

use crate::model::SwapStage;

#[derive(Debug, Clone, Default)]
pub struct TestHooks {
    pub pause: Option<(SwapStage, PathBuf)>,
    pub hold_retired: Option<PathBuf>,
}

impl TestHooks {
    /// The hooks the environment asks for; none in a build without `test-hooks`.
    #[cfg(feature = "test-hooks")]
    pub fn from_env() -> TestHooks {
        let pause = std::env::var("SMALLFILES_MERGER_TEST_PAUSE")
            .ok()
            .and_then(|v| {
                let (stage, file) = v.split_once(':')?;
                let stage = match stage {
                    "written" => SwapStage::Written,
                    "switched" => SwapStage::Switched,
                    _ => return None,
                };
                Some((stage, PathBuf::from(file)))
            });
        TestHooks {
            pause,
            hold_retired: std::env::var_os("SMALLFILES_MERGER_TEST_HOLD_RETIRED")
                .map(PathBuf::from),
        }
    }

    #[cfg(not(feature = "test-hooks"))]
    pub fn from_env() -> TestHooks {
        TestHooks::default()
    }

    /// Whether replaced directories must be kept for now.
    pub fn retired_held(&self) -> bool {
        self.hold_retired.as_ref().is_some_and(|f| !f.exists())
    }
}
