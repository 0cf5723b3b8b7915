//! Reading an fsimage file: the magic, the `FileSummary` at the end and its section index,
//! and each section as a stream of varint-length-delimited messages, decompressed with the
//! image's codec. Every length read from the file is checked against what is there, so a
//! corrupt or truncated image is an error, never a panic or an allocation it asks for.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use prost::Message;

use super::proto::{FileSummary, Section};
use super::FsImageError;

const MAGIC: &[u8; 8] = b"HDFSIMG1";
/// No summary is this large (a few hundred bytes per section).
const MAX_SUMMARY: u64 = 16 << 20;
/// The largest message read: an INODE_DIR entry of a directory with 6.4 million children
/// (HDFS' highest `max-directory-items`) holds ~45 MB of packed ids.
const MAX_MESSAGE: u64 = 256 << 20;

/// The codecs Hadoop names in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    /// `DefaultCodec`: zlib streams.
    Zlib,
    /// `GzipCodec`.
    Gzip,
    /// `SnappyCodec`, in Hadoop's block framing.
    Snappy,
    /// `Lz4Codec`, in Hadoop's block framing.
    Lz4,
}

impl Codec {
    fn from_summary(name: Option<&str>) -> Result<Codec, FsImageError> {
        match name.unwrap_or("") {
            "" => Ok(Codec::None),
            "org.apache.hadoop.io.compress.DefaultCodec" => Ok(Codec::Zlib),
            "org.apache.hadoop.io.compress.GzipCodec" => Ok(Codec::Gzip),
            "org.apache.hadoop.io.compress.SnappyCodec" => Ok(Codec::Snappy),
            "org.apache.hadoop.io.compress.Lz4Codec" => Ok(Codec::Lz4),
            other => Err(FsImageError::UnsupportedCodec(other.to_string())),
        }
    }
}

/// An open image: its summary, ready to read sections.
pub struct ImageFile {
    file: File,
    len: u64,
    pub summary: FileSummary,
    pub codec: Codec,
}

impl ImageFile {
    pub fn open(path: &Path) -> Result<ImageFile, FsImageError> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut magic = [0u8; 8];
        if len < 12 || file.read_exact(&mut magic).is_err() || &magic != MAGIC {
            return Err(FsImageError::NotAnImage);
        }
        let mut tail = [0u8; 4];
        file.seek(SeekFrom::Start(len - 4))?;
        file.read_exact(&mut tail)?;
        let summary_len = u64::from(u32::from_be_bytes(tail));
        if summary_len == 0 || summary_len > MAX_SUMMARY || summary_len > len - 12 {
            return Err(FsImageError::Corrupt(format!(
                "the summary length {summary_len} does not fit a file of {len} bytes"
            )));
        }
        file.seek(SeekFrom::Start(len - 4 - summary_len))?;
        let mut raw = vec![0u8; summary_len as usize];
        file.read_exact(&mut raw)?;
        let summary = FileSummary::decode_length_delimited(raw.as_slice())
            .map_err(|e| FsImageError::Corrupt(format!("the file summary: {e}")))?;
        let codec = Codec::from_summary(summary.codec.as_deref())?;
        for s in &summary.sections {
            if s.offset.checked_add(s.length).is_none_or(|end| end > len) {
                return Err(FsImageError::Corrupt(format!(
                    "section {} ({} bytes at {}) lies outside a file of {len} bytes",
                    s.name, s.length, s.offset
                )));
            }
        }
        Ok(ImageFile {
            file,
            len,
            summary,
            codec,
        })
    }

    pub fn size_bytes(&self) -> u64 {
        self.len
    }

    /// The named section (never a `*_SUB` part: the parent covers it), if the image has it.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.summary.sections.iter().find(|s| s.name == name)
    }

    /// The messages of a section, decompressed. `None` when the image has no such section.
    pub fn messages(&self, name: &str) -> Result<Option<Messages>, FsImageError> {
        let Some(section) = self.section(name) else {
            return Ok(None);
        };
        let mut file = self.file.try_clone()?;
        file.seek(SeekFrom::Start(section.offset))?;
        let raw = BufReader::with_capacity(1 << 20, file.take(section.length));
        let reader: Box<dyn BufRead + Send> = match self.codec {
            Codec::None => Box::new(raw),
            Codec::Zlib => Box::new(BufReader::with_capacity(1 << 20, ZlibStreams::new(raw))),
            Codec::Gzip => Box::new(BufReader::with_capacity(
                1 << 20,
                flate2::bufread::MultiGzDecoder::new(raw),
            )),
            Codec::Snappy | Codec::Lz4 => Box::new(BufReader::with_capacity(
                1 << 20,
                HadoopBlocks::new(raw, self.codec),
            )),
        };
        Ok(Some(Messages {
            section: section.name.clone(),
            reader,
            buf: Vec::new(),
        }))
    }
}

/// zlib streams back to back (Hadoop restarts the stream at each sub-section when it writes
/// them compressed), read as one.
struct ZlibStreams<R: BufRead> {
    decoder: Option<flate2::bufread::ZlibDecoder<R>>,
}

impl<R: BufRead> ZlibStreams<R> {
    fn new(inner: R) -> Self {
        ZlibStreams {
            decoder: Some(flate2::bufread::ZlibDecoder::new(inner)),
        }
    }
}

impl<R: BufRead> Read for ZlibStreams<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            let n = decoder.read(out)?;
            if n > 0 || out.is_empty() {
                return Ok(n);
            }
            // This stream ended: another one follows unless the section is done.
            let mut inner = self.decoder.take().expect("checked above").into_inner();
            if inner.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.decoder = Some(flate2::bufread::ZlibDecoder::new(inner));
        }
    }
}

/// The largest block Hadoop's block codecs write is their buffer size
/// (`io.compression.codec.{snappy,lz4}.buffersize`, 256 KiB by default); 64 MiB allows any sane
/// setting and bounds what a corrupt length can ask for.
const MAX_BLOCK: u64 = 64 << 20;

/// Hadoop's `BlockCompressorStream` framing, as `SnappyCodec` and `Lz4Codec` write it: each
/// block is its uncompressed length (4 bytes, big-endian), then chunks of a compressed length
/// and that many bytes, until the block's length is produced.
struct HadoopBlocks<R: Read> {
    inner: R,
    codec: Codec,
    out: Vec<u8>,
    pos: usize,
    block_left: u64,
    chunk: Vec<u8>,
}

impl<R: Read> HadoopBlocks<R> {
    fn new(inner: R, codec: Codec) -> Self {
        HadoopBlocks {
            inner,
            codec,
            out: Vec::new(),
            pos: 0,
            block_left: 0,
            chunk: Vec::new(),
        }
    }

    /// A 4-byte length; `None` at a clean end of the stream (only between blocks).
    fn length(&mut self, end_ok: bool) -> std::io::Result<Option<u64>> {
        let mut b = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match self.inner.read(&mut b[got..])? {
                0 if got == 0 && end_ok => return Ok(None),
                0 => return Err(bad("a block length is cut short")),
                n => got += n,
            }
        }
        let n = u64::from(u32::from_be_bytes(b));
        if n > MAX_BLOCK {
            return Err(bad(&format!("a block of {n} bytes")));
        }
        Ok(Some(n))
    }

    /// Decompresses the next chunk of the current block into `out`.
    fn next_chunk(&mut self) -> std::io::Result<()> {
        let len = self.length(false)?.expect("not at an end");
        self.chunk.clear();
        let read = (&mut self.inner).take(len).read_to_end(&mut self.chunk)?;
        if read as u64 != len {
            return Err(bad("a compressed chunk is cut short"));
        }
        self.out.clear();
        self.out.resize(self.block_left as usize, 0);
        let produced = match self.codec {
            Codec::Snappy => {
                let n = snap::raw::decompress_len(&self.chunk).map_err(|e| bad(&e.to_string()))?;
                if n as u64 > self.block_left {
                    return Err(bad("a chunk longer than its block"));
                }
                snap::raw::Decoder::new()
                    .decompress(&self.chunk, &mut self.out)
                    .map_err(|e| bad(&e.to_string()))?
            }
            _ => lz4_flex::block::decompress_into(&self.chunk, &mut self.out)
                .map_err(|e| bad(&e.to_string()))?,
        };
        if produced == 0 {
            return Err(bad("an empty chunk"));
        }
        self.out.truncate(produced);
        self.pos = 0;
        self.block_left -= produced as u64;
        Ok(())
    }
}

fn bad(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string())
}

impl<R: Read> Read for HadoopBlocks<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.out.len() {
            if self.block_left == 0 {
                match self.length(true)? {
                    None => return Ok(0),
                    Some(n) => self.block_left = n,
                }
                continue;
            }
            self.next_chunk()?;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The length-delimited messages of one section.
pub struct Messages {
    section: String,
    reader: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
}

impl Messages {
    /// The next message, or `None` at the end of the section.
    pub fn next<M: Message + Default>(&mut self) -> Result<Option<M>, FsImageError> {
        let Some(len) = self.varint()? else {
            return Ok(None);
        };
        if len > MAX_MESSAGE {
            return Err(self.corrupt(format!("a message of {len} bytes")));
        }
        // Most messages lie whole in the reader's buffer: decoded in place, not copied.
        let buffered = self
            .reader
            .fill_buf()
            .map_err(|e| FsImageError::Corrupt(format!("section {}: {e}", self.section)))?;
        if buffered.len() as u64 >= len {
            let decoded = M::decode(&buffered[..len as usize]);
            self.reader.consume(len as usize);
            return decoded.map(Some).map_err(|e| self.corrupt(e.to_string()));
        }
        self.buf.clear();
        let read = (&mut self.reader as &mut dyn BufRead)
            .take(len)
            .read_to_end(&mut self.buf)
            .map_err(|e| self.corrupt(e.to_string()))?;
        if read as u64 != len {
            return Err(self.corrupt(format!("a message of {len} bytes is cut at {read}")));
        }
        M::decode(self.buf.as_slice())
            .map(Some)
            .map_err(|e| self.corrupt(e.to_string()))
    }

    /// A message that must be there (a section's header).
    pub fn header<M: Message + Default>(&mut self) -> Result<M, FsImageError> {
        self.next()?
            .ok_or_else(|| self.corrupt("the section is empty".into()))
    }

    fn corrupt(&self, why: String) -> FsImageError {
        FsImageError::Corrupt(format!("section {}: {why}", self.section))
    }

    /// A varint, or `None` at a clean end of the stream.
    fn varint(&mut self) -> Result<Option<u64>, FsImageError> {
        let buffered = self
            .reader
            .fill_buf()
            .map_err(|e| FsImageError::Corrupt(format!("section {}: {e}", self.section)))?;
        if buffered.is_empty() {
            return Ok(None);
        }
        // The whole varint in the buffer: decoded there.
        if let Some(end) = buffered.iter().take(10).position(|b| b & 0x80 == 0) {
            let value = buffered[..=end]
                .iter()
                .enumerate()
                .fold(0u64, |v, (i, b)| v | (u64::from(b & 0x7f) << (7 * i)));
            self.reader.consume(end + 1);
            return Ok(Some(value));
        }
        let mut value = 0u64;
        for i in 0..10 {
            let mut byte = [0u8; 1];
            match self.reader.read(&mut byte) {
                Ok(0) => return Err(self.corrupt("a length is cut short".into())),
                Ok(_) => {}
                Err(e) => return Err(self.corrupt(e.to_string())),
            }
            value |= u64::from(byte[0] & 0x7f) << (7 * i);
            if byte[0] & 0x80 == 0 {
                return Ok(Some(value));
            }
        }
        Err(self.corrupt("a length longer than ten bytes".into()))
    }
}
