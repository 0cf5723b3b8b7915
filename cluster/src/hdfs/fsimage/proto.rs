//! The messages of Hadoop's `fsimage.proto` (and `BlockProto` from `hdfs.proto`) that the
//! exporter reads, declared by hand for prost: field numbers and types as in Hadoop, fields
//! it does not need left out (prost skips unknown fields, so images of every layout version
//! from Hadoop 2.4 on decode). Optional scalars are plain values: an absent field is its
//! default, as Hadoop reads it.

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct FileSummary {
    #[prost(uint32, tag = "1")]
    pub ondisk_version: u32,
    /// A negative number stored as uint32 (-63 for Hadoop 2.7, -66 for 3.3).
    #[prost(uint32, tag = "2")]
    pub layout_version: u32,
    #[prost(string, optional, tag = "3")]
    pub codec: Option<String>,
    #[prost(message, repeated, tag = "4")]
    pub sections: Vec<Section>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Section {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint64, tag = "2")]
    pub length: u64,
    #[prost(uint64, tag = "3")]
    pub offset: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct NameSystemSection {
    #[prost(uint32, tag = "1")]
    pub namespace_id: u32,
    #[prost(uint64, tag = "6")]
    pub transaction_id: u64,
}

/// The header of the INODE section.
#[derive(Clone, PartialEq, Message)]
pub struct INodeSection {
    #[prost(uint64, tag = "1")]
    pub last_inode_id: u64,
    #[prost(uint64, tag = "2")]
    pub num_inodes: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, prost::Enumeration)]
#[repr(i32)]
pub enum INodeType {
    File = 1,
    Directory = 2,
    Symlink = 3,
}

#[derive(Clone, PartialEq, Message)]
pub struct INode {
    /// Required in Hadoop's schema: optional here so that FILE, prost's default for the
    /// enum, is still written (the test kit's images are read by Hadoop too).
    #[prost(enumeration = "INodeType", optional, tag = "1")]
    pub r#type: Option<i32>,
    #[prost(uint64, tag = "2")]
    pub id: u64,
    #[prost(bytes = "vec", tag = "3")]
    pub name: Vec<u8>,
    #[prost(message, optional, tag = "4")]
    pub file: Option<INodeFile>,
    #[prost(message, optional, tag = "5")]
    pub directory: Option<INodeDirectory>,
    #[prost(message, optional, tag = "6")]
    pub symlink: Option<INodeSymlink>,
}

#[derive(Clone, PartialEq, Message)]
pub struct INodeFile {
    #[prost(uint32, tag = "1")]
    pub replication: u32,
    #[prost(uint64, tag = "2")]
    pub modification_time: u64,
    #[prost(uint64, tag = "3")]
    pub access_time: u64,
    #[prost(uint64, tag = "4")]
    pub preferred_block_size: u64,
    /// User string id (bits 63–40), group string id (39–16), mode (15–0).
    #[prost(fixed64, tag = "5")]
    pub permission: u64,
    #[prost(message, repeated, tag = "6")]
    pub blocks: Vec<BlockProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct BlockProto {
    #[prost(uint64, tag = "1")]
    pub block_id: u64,
    #[prost(uint64, tag = "2")]
    pub gen_stamp: u64,
    #[prost(uint64, tag = "3")]
    pub num_bytes: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct INodeDirectory {
    #[prost(uint64, tag = "1")]
    pub modification_time: u64,
    #[prost(fixed64, tag = "4")]
    pub permission: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct INodeSymlink {
    #[prost(fixed64, tag = "1")]
    pub permission: u64,
}

/// One directory's children in the INODE_DIR section (one entry per non-empty directory).
#[derive(Clone, PartialEq, Message)]
pub struct DirEntry {
    #[prost(uint64, tag = "1")]
    pub parent: u64,
    #[prost(uint64, repeated, tag = "2")]
    pub children: Vec<u64>,
    /// Indexes into the INODE_REFERENCE section: children renamed while a snapshot held them.
    #[prost(uint32, repeated, tag = "3")]
    pub ref_children: Vec<u32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct INodeReference {
    #[prost(uint64, tag = "1")]
    pub referred_id: u64,
    /// Set for a reference that carries its own name (the name before a rename).
    #[prost(bytes = "vec", optional, tag = "2")]
    pub name: Option<Vec<u8>>,
}

/// The header of the STRING_TABLE section.
#[derive(Clone, PartialEq, Message)]
pub struct StringTableSection {
    #[prost(uint32, tag = "1")]
    pub num_entry: u32,
    /// Hadoop 3.2+: the top `mask_bits` bits of an entry's id say what it names (1 = user).
    #[prost(uint32, tag = "2")]
    pub mask_bits: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct StringTableEntry {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(string, tag = "2")]
    pub str: String,
}
