//! WebHDFS replies as a NameNode (or whatever answers in its place) may send them: listing
//! pages, whole listings, statuses, booleans, RemoteExceptions with any status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smallfiles_cluster::hdfs::reply;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => {
            if let Ok(page) = reply::batch_page(body, "") {
                // A page that passed names each entry once, in one path component.
                for e in &page.entries {
                    assert!(!e.name.contains('/'));
                }
                if let Some(last) = page.entries.last() {
                    // The next page must advance past the last name.
                    let _ = reply::batch_page(body, &last.name.clone());
                }
            }
        }
        1 => {
            let _ = reply::list_status(body, 1_000_000);
        }
        2 => {
            let _ = reply::file_status(body);
        }
        3 => {
            let _ = reply::boolean(body);
        }
        _ => {
            let status = 400 + u16::from(body.first().copied().unwrap_or(0)) % 200;
            let _ = reply::error_reply(status, body);
        }
    }
});
