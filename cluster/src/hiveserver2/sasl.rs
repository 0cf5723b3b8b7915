//! SASL over HiveServer2's binary transport (the Thrift SASL framing: a status byte, a 4-byte
//! length, a payload), shared by PLAIN here and GSSAPI (`gssapi.rs`). Frames from the server
//! are bounded: a hostile or broken server cannot make the client allocate more than 64 KiB.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const START: u8 = 0x01;
pub const OK: u8 = 0x02;
pub const BAD: u8 = 0x03;
pub const ERROR: u8 = 0x04;
pub const COMPLETE: u8 = 0x05;

/// The largest negotiation frame taken from a server.
pub const MAX_FRAME: usize = 64 << 10;

/// Why a negotiation failed, before the caller names the mechanism.
#[derive(Debug, thiserror::Error)]
pub enum SaslError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("oversized negotiation frame ({0} bytes)")]
    Oversized(usize),
    #[error("authentication refused (status {status}): {message}")]
    Refused { status: u8, message: String },
}

pub async fn send_frame<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u8,
    payload: &[u8],
) -> Result<(), SaslError> {
    let mut f = Vec::with_capacity(5 + payload.len());
    f.push(status);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    Ok(stream.write_all(&f).await?)
}

pub async fn receive_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(u8, Vec<u8>), SaslError> {
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).await?;
    let n = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if n > MAX_FRAME {
        return Err(SaslError::Oversized(n));
    }
    let mut payload = vec![0u8; n];
    stream.read_exact(&mut payload).await?;
    Ok((head[0], payload))
}

/// SASL PLAIN (what `hive.server2.authentication=LDAP|CUSTOM|NONE` takes): one message, one
/// answer; anything but COMPLETE is a refusal, told with the server's message.
pub async fn plain<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    user: &str,
    password: &str,
) -> Result<(), SaslError> {
    send_frame(stream, START, b"PLAIN").await?;
    let mut message = vec![0u8];
    message.extend_from_slice(user.as_bytes());
    message.push(0);
    message.extend_from_slice(password.as_bytes());
    send_frame(stream, OK, &message).await?;
    match receive_frame(stream).await? {
        (COMPLETE, _) => Ok(()),
        (status, payload) => Err(SaslError::Refused {
            status,
            message: String::from_utf8_lossy(&payload)
                .chars()
                .take(500)
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a server answers, fed to the client; the client's own frames are read and
    /// dropped by the server side.
    async fn plain_against(reply: &[u8]) -> Result<(), SaslError> {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        server.write_all(reply).await.unwrap();
        drop(server.shutdown().await);
        let keep = server;
        let out = plain(&mut client, "u", "p").await;
        drop(keep);
        out
    }

    #[tokio::test]
    async fn plain_completes_or_says_why_not() {
        assert!(plain_against(&[COMPLETE, 0, 0, 0, 0]).await.is_ok());
        let refused = plain_against(&[BAD, 0, 0, 0, 4, b'n', b'o', b'p', b'e'])
            .await
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "authentication refused (status 3): nope"
        );
        assert!(matches!(
            plain_against(&[COMPLETE, 0x7f, 0xff, 0xff, 0xff]).await,
            Err(SaslError::Oversized(_))
        ));
        assert!(matches!(
            plain_against(&[COMPLETE, 0, 0]).await,
            Err(SaslError::Io(_))
        ));
    }
}
