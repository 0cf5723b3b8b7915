//! Writing fsimage files as Hadoop's NameNode lays them out (magic, sections of
//! length-delimited messages, compressed as a unit per section, the summary and its length
//! at the end), for tests and benchmarks: small trees given path by path, and warehouses of
//! any size generated while they are written (nothing held in memory). Hadoop's own reader
//! (`hdfs oiv`, through [`crate::minidfs::MiniDfs::offline_image_viewer`]) reads them back in
//! the tests.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use prost::Message;
use smallfiles_cluster::hdfs::fsimage::proto::{
    BlockProto, DirEntry, FileSummary, INode, INodeDirectory, INodeFile, INodeSection, INodeType,
    NameSystemSection, Section, StringTableEntry, StringTableSection,
};

const ROOT_ID: u64 = 16385;
/// Hadoop 3.3's layout version.
pub const LAYOUT_3_3: i32 = -66;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteCodec {
    None,
    /// `DefaultCodec`.
    Zlib,
    Gzip,
    /// `SnappyCodec` and `Lz4Codec`: Hadoop's block framing, 256 KiB blocks as Hadoop writes.
    Snappy,
    Lz4,
}

impl WriteCodec {
    fn name(self) -> Option<String> {
        match self {
            WriteCodec::None => None,
            WriteCodec::Zlib => Some("org.apache.hadoop.io.compress.DefaultCodec".into()),
            WriteCodec::Gzip => Some("org.apache.hadoop.io.compress.GzipCodec".into()),
            WriteCodec::Snappy => Some("org.apache.hadoop.io.compress.SnappyCodec".into()),
            WriteCodec::Lz4 => Some("org.apache.hadoop.io.compress.Lz4Codec".into()),
        }
    }
}

struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hadoop's `BlockCompressorStream` buffer (`io.compression.codec.snappy.buffersize`).
const BLOCK: usize = 256 * 1024;

/// Blocks of [uncompressed length][compressed length][bytes], one chunk per block (as
/// Hadoop's compressors produce them for a block that compresses into its buffer).
struct BlockWriter<W: Write> {
    out: W,
    codec: WriteCodec,
    pending: Vec<u8>,
}

impl<W: Write> BlockWriter<W> {
    fn emit(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let compressed = match self.codec {
            WriteCodec::Snappy => snap::raw::Encoder::new()
                .compress_vec(&self.pending)
                .map_err(io::Error::other)?,
            _ => lz4_flex::block::compress(&self.pending),
        };
        self.out
            .write_all(&(self.pending.len() as u32).to_be_bytes())?;
        self.out
            .write_all(&(compressed.len() as u32).to_be_bytes())?;
        self.out.write_all(&compressed)?;
        self.pending.clear();
        Ok(())
    }
}

impl<W: Write> Write for BlockWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(BLOCK - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == BLOCK {
            self.emit()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.emit()?;
        self.out.flush()
    }
}

/// An image being written, section by section.
pub struct ImageWriter {
    out: Counting<BufWriter<File>>,
    codec: WriteCodec,
    sections: Vec<Section>,
}

/// The messages of one section.
pub struct SectionSink<'a> {
    out: Box<dyn Write + 'a>,
    buf: Vec<u8>,
}

impl SectionSink<'_> {
    pub fn put<M: Message>(&mut self, m: &M) -> io::Result<()> {
        self.buf.clear();
        m.encode_length_delimited(&mut self.buf)
            .map_err(io::Error::other)?;
        self.out.write_all(&self.buf)
    }
}

impl ImageWriter {
    pub fn create(path: &Path, codec: WriteCodec) -> io::Result<ImageWriter> {
        let mut out = Counting {
            inner: BufWriter::with_capacity(1 << 20, File::create(path)?),
            written: 0,
        };
        out.write_all(b"HDFSIMG1")?;
        Ok(ImageWriter {
            out,
            codec,
            sections: Vec::new(),
        })
    }

    pub fn section(
        &mut self,
        name: &str,
        fill: impl FnOnce(&mut SectionSink<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        let offset = self.out.written;
        {
            let out: Box<dyn Write + '_> = match self.codec {
                WriteCodec::None => Box::new(&mut self.out),
                WriteCodec::Zlib => Box::new(flate2::write::ZlibEncoder::new(
                    &mut self.out,
                    flate2::Compression::fast(),
                )),
                WriteCodec::Gzip => Box::new(flate2::write::GzEncoder::new(
                    &mut self.out,
                    flate2::Compression::fast(),
                )),
                codec @ (WriteCodec::Snappy | WriteCodec::Lz4) => Box::new(BlockWriter {
                    out: &mut self.out,
                    codec,
                    pending: Vec::with_capacity(BLOCK),
                }),
            };
            let mut sink = SectionSink {
                out,
                buf: Vec::new(),
            };
            fill(&mut sink)?;
            sink.out.flush()?;
            // Dropping the encoder writes its trailer.
        }
        self.sections.push(Section {
            name: name.into(),
            length: self.out.written - offset,
            offset,
        });
        Ok(())
    }

    pub fn finish(mut self, layout_version: i32) -> io::Result<u64> {
        let summary = FileSummary {
            ondisk_version: 1,
            layout_version: layout_version as u32,
            codec: self.codec.name(),
            sections: std::mem::take(&mut self.sections),
        };
        let mut buf = Vec::new();
        summary
            .encode_length_delimited(&mut buf)
            .map_err(io::Error::other)?;
        self.out.write_all(&buf)?;
        self.out.write_all(&(buf.len() as u32).to_be_bytes())?;
        self.out.flush()?;
        Ok(self.out.written)
    }
}

/// With mask bits too the permission holds the bare serial: the string table's id carries
/// the tag.
fn permission(user: u32) -> u64 {
    (u64::from(user) << 40) | (1u64 << 16) | 0o644
}

fn string_table(sink: &mut SectionSink<'_>, users: &[String], mask_bits: u32) -> io::Result<()> {
    sink.put(&StringTableSection {
        num_entry: users.len() as u32,
        mask_bits,
    })?;
    for (i, u) in users.iter().enumerate() {
        let serial = i as u32 + 1;
        let id = if mask_bits == 0 {
            serial
        } else {
            (1 << (32 - mask_bits)) | serial
        };
        sink.put(&StringTableEntry { id, str: u.clone() })?;
    }
    Ok(())
}

fn file_inode(id: u64, name: &[u8], length: u64, user: u32) -> INode {
    // Files span 128 MiB blocks, as the NameNode records them.
    let mut blocks = Vec::new();
    let mut left = length;
    let mut block = id * 4;
    loop {
        let n = left.min(128 << 20);
        blocks.push(BlockProto {
            block_id: 1_073_741_824 + block,
            gen_stamp: 1001 + block,
            num_bytes: n,
        });
        block += 1;
        left -= n;
        if left == 0 {
            break;
        }
    }
    INode {
        r#type: Some(INodeType::File as i32),
        id,
        name: name.to_vec(),
        // The fields a NameNode writes for every file, so that an image's size per inode is
        // a real one's (~90 bytes with one block).
        file: Some(INodeFile {
            replication: 3,
            modification_time: 1_700_000_000_000 + id,
            access_time: 1_700_000_000_000 + id * 7,
            preferred_block_size: 128 << 20,
            permission: permission(user),
            blocks,
        }),
        directory: None,
        symlink: None,
    }
}

fn dir_inode(id: u64, name: &[u8]) -> INode {
    INode {
        r#type: Some(INodeType::Directory as i32),
        id,
        name: name.to_vec(),
        file: None,
        directory: Some(INodeDirectory {
            modification_time: 1_700_000_000_000,
            permission: (1u64 << 40) | (1u64 << 16) | 0o755,
        }),
        symlink: None,
    }
}

/// A file of a small tree: its absolute path, length and owner (directories are implied).
#[derive(Debug, Clone)]
pub struct TreeFile {
    pub path: String,
    pub length: u64,
    pub owner: String,
}

/// Writes an image holding `files` (and empty directories `dirs`), with transaction id `txid`.
pub fn write_tree(
    path: &Path,
    codec: WriteCodec,
    mask_bits: u32,
    txid: u64,
    files: &[TreeFile],
    dirs: &[&str],
) -> io::Result<u64> {
    // Directory path → (id, children ids); files get ids after their directories.
    let mut next = ROOT_ID + 1;
    let mut dir_ids: BTreeMap<String, (u64, Vec<u64>)> = BTreeMap::new();
    dir_ids.insert(String::new(), (ROOT_ID, Vec::new()));
    let mut inodes = vec![dir_inode(ROOT_ID, b"")];
    let mut ensure_dir = |p: &str,
                          inodes: &mut Vec<INode>,
                          dir_ids: &mut BTreeMap<String, (u64, Vec<u64>)>|
     -> u64 {
        let mut cur = String::new();
        let mut id = ROOT_ID;
        for c in p.split('/').filter(|c| !c.is_empty()) {
            let parent = cur.clone();
            cur = format!("{cur}/{c}");
            id = match dir_ids.get(&cur) {
                Some((id, _)) => *id,
                None => {
                    let id = next;
                    next += 1;
                    inodes.push(dir_inode(id, c.as_bytes()));
                    dir_ids.insert(cur.clone(), (id, Vec::new()));
                    dir_ids.get_mut(&parent).expect("parent first").1.push(id);
                    id
                }
            };
        }
        id
    };
    let mut users: Vec<String> = Vec::new();
    for d in dirs {
        ensure_dir(d, &mut inodes, &mut dir_ids);
    }
    let mut file_nodes = Vec::new();
    for f in files {
        let (parent, name) = f.path.rsplit_once('/').expect("an absolute path");
        let pid = ensure_dir(parent, &mut inodes, &mut dir_ids);
        let user = match users.iter().position(|u| *u == f.owner) {
            Some(i) => i as u32 + 1,
            None => {
                users.push(f.owner.clone());
                users.len() as u32
            }
        };
        file_nodes.push((pid, name.to_string(), f.length, user));
    }
    let mut dir_children: BTreeMap<u64, Vec<u64>> =
        dir_ids.values().map(|(id, c)| (*id, c.clone())).collect();
    for (pid, name, length, user) in file_nodes {
        let id = next;
        next += 1;
        inodes.push(file_inode(id, name.as_bytes(), length, user));
        dir_children.entry(pid).or_default().push(id);
    }
    let mut w = ImageWriter::create(path, codec)?;
    w.section("NS_INFO", |s| {
        s.put(&NameSystemSection {
            namespace_id: 42,
            transaction_id: txid,
        })
    })?;
    w.section("INODE", |s| {
        s.put(&INodeSection {
            last_inode_id: next - 1,
            num_inodes: inodes.len() as u64,
        })?;
        inodes.iter().try_for_each(|i| s.put(i))
    })?;
    w.section("INODE_DIR", |s| {
        for (parent, children) in &dir_children {
            if !children.is_empty() {
                s.put(&DirEntry {
                    parent: *parent,
                    children: children.clone(),
                    ref_children: Vec::new(),
                })?;
            }
        }
        Ok(())
    })?;
    w.section("STRING_TABLE", |s| string_table(s, &users, mask_bits))?;
    w.finish(LAYOUT_3_3)
}

/// A generated warehouse: `/user/hive/warehouse/db<d>.db/t<t>/dt=<p>/part-<f>`.
#[derive(Debug, Clone, Copy)]
pub struct WarehouseShape {
    pub databases: u64,
    pub tables: u64,
    pub partitions: u64,
    pub files: u64,
}

/// What a generated warehouse holds, for checking counts against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WarehouseTotals {
    pub files: u64,
    pub small_files: u64,
    pub bytes: u64,
    pub inodes: u64,
}

pub const WAREHOUSE: &str = "/user/hive/warehouse";
const OWNERS: [&str; 4] = ["etl", "hive", "spark", "analyst"];

/// The length of the `i`th file: three in four below 1 MiB, the rest 64–192 MiB.
pub fn generated_length(i: u64) -> u64 {
    let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 33;
    if h.is_multiple_of(4) {
        (64 << 20) + h % (128 << 20)
    } else {
        1 + h % (1 << 20)
    }
}

/// Writes a warehouse of `shape` while generating it; returns what it holds (small files
/// below `threshold`).
pub fn write_warehouse(
    path: &Path,
    codec: WriteCodec,
    shape: WarehouseShape,
    threshold: u64,
) -> io::Result<WarehouseTotals> {
    // Ids: the root, /user, /user/hive, /user/hive/warehouse, then each directory's children
    // numbered together when the directory is visited, depth first.
    let s = shape;
    let tables_in_db = s.tables * (1 + s.partitions * (1 + s.files));
    let db_size = 1 + tables_in_db;
    let table_size = 1 + s.partitions * (1 + s.files);
    let part_size = 1 + s.files;
    let warehouse_id = ROOT_ID + 3;
    let first = warehouse_id + 1;
    // Id layout: db d at first + d*db_size; its table t at db + 1 + t*table_size; partition p
    // at table + 1 + p*part_size; file f at partition + 1 + f.
    let db_id = |d: u64| first + d * db_size;
    let table_id = |d: u64, t: u64| db_id(d) + 1 + t * table_size;
    let part_id = |d: u64, t: u64, p: u64| table_id(d, t) + 1 + p * part_size;
    let last = first + s.databases * db_size - 1;
    let mut totals = WarehouseTotals {
        inodes: 4 + s.databases * db_size,
        ..Default::default()
    };
    let mut w = ImageWriter::create(path, codec)?;
    w.section("NS_INFO", |sink| {
        sink.put(&NameSystemSection {
            namespace_id: 42,
            transaction_id: 1000 + last,
        })
    })?;
    w.section("INODE", |sink| {
        sink.put(&INodeSection {
            last_inode_id: last,
            num_inodes: totals.inodes,
        })?;
        for (id, name) in [
            (ROOT_ID, ""),
            (ROOT_ID + 1, "user"),
            (ROOT_ID + 2, "hive"),
            (warehouse_id, "warehouse"),
        ] {
            sink.put(&dir_inode(id, name.as_bytes()))?;
        }
        for d in 0..s.databases {
            sink.put(&dir_inode(db_id(d), format!("db{d}.db").as_bytes()))?;
            for t in 0..s.tables {
                sink.put(&dir_inode(table_id(d, t), format!("t{t}").as_bytes()))?;
                for p in 0..s.partitions {
                    let pid = part_id(d, t, p);
                    sink.put(&dir_inode(pid, format!("dt={p:05}").as_bytes()))?;
                    for f in 0..s.files {
                        let id = pid + 1 + f;
                        let length = generated_length(id);
                        totals.files += 1;
                        totals.bytes += length;
                        totals.small_files += u64::from(length < threshold);
                        let owner = (id % OWNERS.len() as u64) as u32 + 1;
                        sink.put(&file_inode(
                            id,
                            format!("part-{f:05}").as_bytes(),
                            length,
                            owner,
                        ))?;
                    }
                }
            }
        }
        Ok(())
    })?;
    w.section("INODE_DIR", |sink| {
        let entry = |parent: u64, children: Vec<u64>| DirEntry {
            parent,
            children,
            ref_children: Vec::new(),
        };
        sink.put(&entry(ROOT_ID, vec![ROOT_ID + 1]))?;
        sink.put(&entry(ROOT_ID + 1, vec![ROOT_ID + 2]))?;
        sink.put(&entry(ROOT_ID + 2, vec![warehouse_id]))?;
        sink.put(&entry(warehouse_id, (0..s.databases).map(db_id).collect()))?;
        for d in 0..s.databases {
            sink.put(&entry(
                db_id(d),
                (0..s.tables).map(|t| table_id(d, t)).collect(),
            ))?;
            for t in 0..s.tables {
                let parts = (0..s.partitions).map(|p| part_id(d, t, p)).collect();
                sink.put(&entry(table_id(d, t), parts))?;
                for p in 0..s.partitions {
                    let pid = part_id(d, t, p);
                    sink.put(&entry(pid, (pid + 1..=pid + s.files).collect()))?;
                }
            }
        }
        Ok(())
    })?;
    let users: Vec<String> = OWNERS.iter().map(|s| s.to_string()).collect();
    w.section("STRING_TABLE", |sink| string_table(sink, &users, 0))?;
    w.finish(LAYOUT_3_3)?;
    Ok(totals)
}
