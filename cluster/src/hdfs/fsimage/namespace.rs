//! The namespace of an image, in the little memory it needs to count tables: one 16-byte
//! node per inode (a file's length and owner, a directory's children as a range of one shared
//! array), directory names for resolving locations, and user names. No path is kept for any
//! file; paths exist only for the locations resolved.

use std::collections::HashMap;

use super::proto::{
    DirEntry, INode, INodeReference, INodeSection, INodeType, NameSystemSection, StringTableEntry,
    StringTableSection,
};
use super::read::ImageFile;
use super::FsImageError;

/// The root directory's inode id in every image.
const ROOT_ID: u64 = 16385;

const KIND_FILE: u8 = 1;
const KIND_DIR: u8 = 2;
const KIND_SYMLINK: u8 = 3;

#[derive(Clone, Copy, Default)]
struct Node {
    /// A file's length; a directory's children: start (high 32 bits) and count (low 32).
    value: u64,
    /// A file's owner (the user's serial in the string table).
    owner: u32,
    kind: u8,
    /// The name starts with `_` or `.`: not data, nor anything under it.
    hidden: bool,
}

/// Inode id → node index: a plain array over the id range when ids are dense (they are
/// handed out in sequence), a hash map when an image's ids are scattered.
enum IdIndex {
    Dense { base: u64, slots: Vec<u32> },
    Sparse(HashMap<u64, u32>),
}

impl IdIndex {
    fn new(num_inodes: u64, last_id: u64) -> IdIndex {
        let span = last_id.saturating_sub(ROOT_ID).saturating_add(1);
        // Dense while the array costs at most 8 slots (32 bytes) per inode.
        if span <= num_inodes.saturating_mul(8).saturating_add(1024) && span <= u32::MAX as u64 {
            IdIndex::Dense {
                base: ROOT_ID,
                slots: Vec::new(),
            }
        } else {
            IdIndex::Sparse(HashMap::new())
        }
    }

    fn insert(&mut self, id: u64, index: u32) {
        match self {
            IdIndex::Dense { base, slots } => match id.checked_sub(*base) {
                Some(slot) if slot < u32::MAX as u64 => {
                    let slot = slot as usize;
                    if slot >= slots.len() {
                        slots.resize(slot + 1, u32::MAX);
                    }
                    slots[slot] = index;
                }
                // Below the root: not part of the tree (never seen in a real image).
                _ => {}
            },
            IdIndex::Sparse(map) => {
                map.insert(id, index);
            }
        }
    }

    fn get(&self, id: u64) -> Option<u32> {
        match self {
            IdIndex::Dense { base, slots } => {
                let slot = id.checked_sub(*base)?;
                slots
                    .get(usize::try_from(slot).ok()?)
                    .copied()
                    .filter(|&i| i != u32::MAX)
            }
            IdIndex::Sparse(map) => map.get(&id).copied(),
        }
    }
}

/// What an image holds for the exporter.
pub struct Namespace {
    pub txid: u64,
    /// As Hadoop numbers it (negative: -63 for Hadoop 2.7, -66 for 3.3+).
    pub layout_version: i32,
    /// Inodes read from the INODE section.
    pub inodes: u64,
    nodes: Vec<Node>,
    children: Vec<u32>,
    dirs: DirNames,
    root: Option<u32>,
    users: HashMap<u32, String>,
}

/// One data file under a location, as a walk of the listing would see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFileEntry {
    pub length: u64,
    /// The owner's serial: [`Namespace::user`] names it.
    pub owner: u32,
}

impl Namespace {
    /// Reads the sections the exporter needs: NS_INFO, STRING_TABLE, INODE, INODE_REFERENCE,
    /// INODE_DIR. Everything else (snapshots, blocks under construction, tokens, caches,
    /// erasure-coding policies) is skipped.
    pub fn read(image: &ImageFile) -> Result<Namespace, FsImageError> {
        let txid = match image.messages("NS_INFO")? {
            Some(mut m) => m.header::<NameSystemSection>()?.transaction_id,
            None => return Err(FsImageError::Corrupt("no NS_INFO section".into())),
        };
        let users = read_users(image)?;
        let mut inodes = image
            .messages("INODE")?
            .ok_or_else(|| FsImageError::Corrupt("no INODE section".into()))?;
        let header: INodeSection = inodes.header()?;
        let mut index = IdIndex::new(header.num_inodes, header.last_inode_id);
        // Reserve only what the file can hold: a corrupt header must not allocate terabytes.
        let reserve = header.num_inodes.min(image.size_bytes() / 8) as usize;
        let mut nodes: Vec<Node> = Vec::with_capacity(reserve);
        let mut dir_names: HashMap<u32, Box<[u8]>> = HashMap::new();
        while let Some(inode) = inodes.next::<INode>()? {
            let i = u32::try_from(nodes.len())
                .map_err(|_| FsImageError::Corrupt("more than 4 billion inodes".into()))?;
            let hidden = matches!(inode.name.first(), Some(b'_' | b'.'));
            let node = match INodeType::try_from(inode.r#type.unwrap_or(0)) {
                Ok(INodeType::File) => {
                    let file = inode.file.unwrap_or_default();
                    let length = file
                        .blocks
                        .iter()
                        .fold(0u64, |sum, b| sum.saturating_add(b.num_bytes));
                    Node {
                        value: length,
                        owner: user_serial(file.permission),
                        kind: KIND_FILE,
                        hidden,
                    }
                }
                Ok(INodeType::Directory) => {
                    dir_names.insert(i, inode.name.into_boxed_slice());
                    Node {
                        kind: KIND_DIR,
                        hidden,
                        ..Node::default()
                    }
                }
                Ok(INodeType::Symlink) => Node {
                    owner: user_serial(inode.symlink.unwrap_or_default().permission),
                    kind: KIND_SYMLINK,
                    hidden,
                    ..Node::default()
                },
                Err(_) => {
                    return Err(FsImageError::Corrupt(format!(
                        "inode {} has the unknown type {:?}",
                        inode.id, inode.r#type
                    )))
                }
            };
            index.insert(inode.id, i);
            nodes.push(node);
        }
        let root = index.get(ROOT_ID);
        // Renamed entries still held by a snapshot appear in their new directory as
        // references: the inode they refer to, under the reference's name when it has one.
        let mut references: Vec<INodeReference> = Vec::new();
        if let Some(mut refs) = image.messages("INODE_REFERENCE")? {
            while let Some(r) = refs.next::<INodeReference>()? {
                references.push(r);
            }
        }
        let mut children: Vec<u32> = Vec::with_capacity(nodes.len());
        let mut parents: Vec<(u32, u32)> = Vec::new();
        if let Some(mut entries) = image.messages("INODE_DIR")? {
            while let Some(entry) = entries.next::<DirEntry>()? {
                let Some(parent) = index.get(entry.parent) else {
                    continue;
                };
                if nodes[parent as usize].kind != KIND_DIR {
                    return Err(FsImageError::Corrupt(format!(
                        "inode {} has children but is not a directory",
                        entry.parent
                    )));
                }
                let start = children.len();
                for id in &entry.children {
                    if let Some(child) = index.get(*id) {
                        children.push(child);
                    }
                }
                for r in &entry.ref_children {
                    let Some(reference) = references.get(*r as usize) else {
                        return Err(FsImageError::Corrupt(format!(
                            "a reference {r} beyond the {} in INODE_REFERENCE",
                            references.len()
                        )));
                    };
                    let Some(child) = index.get(reference.referred_id) else {
                        continue;
                    };
                    if let Some(name) = &reference.name {
                        nodes[child as usize].hidden = matches!(name.first(), Some(b'_' | b'.'));
                        if dir_names.contains_key(&child) {
                            dir_names.insert(child, name.clone().into_boxed_slice());
                        }
                    }
                    children.push(child);
                }
                let count = children.len() - start;
                if u32::try_from(children.len()).is_err() {
                    return Err(FsImageError::Corrupt("more than 4 billion children".into()));
                }
                nodes[parent as usize].value = ((start as u64) << 32) | count as u64;
                for &child in &children[start..] {
                    if nodes[child as usize].kind == KIND_DIR {
                        parents.push((child, parent));
                    }
                }
            }
        }
        let mut dirs = DirNames::with_capacity(parents.len());
        for (child, parent) in parents {
            if let Some(name) = dir_names.remove(&child) {
                dirs.insert(parent, child, &name);
            }
        }
        Ok(Namespace {
            txid,
            layout_version: image.summary.layout_version as i32,
            inodes: nodes.len() as u64,
            nodes,
            children,
            dirs,
            root,
            users,
        })
    }

    fn children_of(&self, node: u32) -> &[u32] {
        let n = self.nodes[node as usize];
        if n.kind != KIND_DIR {
            return &[];
        }
        let (start, count) = ((n.value >> 32) as usize, (n.value & 0xffff_ffff) as usize);
        self.children.get(start..start + count).unwrap_or(&[])
    }

    /// The directory at an absolute path, or `None` when there is none. File names are not
    /// kept, so a location naming a file (never one Hive writes) is not found.
    fn resolve(&self, path: &str) -> Option<u32> {
        let mut node = self.root?;
        for component in path.split('/').filter(|c| !c.is_empty()) {
            node = self.dirs.child(node, component.as_bytes())?;
        }
        Some(node)
    }

    /// Visits the data files under `path` as a recursive listing would (names starting with
    /// `_` or `.` are skipped with everything under them); `false` when `path` does not exist.
    pub fn walk(&self, path: &str, mut on_file: impl FnMut(ImageFileEntry)) -> bool {
        let Some(start) = self.resolve(path) else {
            return false;
        };
        let mut pending = vec![start];
        while let Some(dir) = pending.pop() {
            for &child in self.children_of(dir) {
                let n = self.nodes[child as usize];
                if n.hidden {
                    continue;
                }
                match n.kind {
                    KIND_DIR => pending.push(child),
                    KIND_FILE => on_file(ImageFileEntry {
                        length: n.value,
                        owner: n.owner,
                    }),
                    _ => on_file(ImageFileEntry {
                        length: 0,
                        owner: n.owner,
                    }),
                }
            }
        }
        true
    }

    /// The directories directly in `path` (names as UTF-8, lossily), `None` when `path` is
    /// not a directory of the image: what discovering a warehouse's layout needs.
    pub fn list_dirs(&self, path: &str) -> Option<Vec<String>> {
        let node = self.resolve(path)?;
        Some(
            self.children_of(node)
                .iter()
                .filter_map(|&c| self.dirs.name(c))
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect(),
        )
    }

    /// The user name of an owner serial ("" when the string table has none).
    pub fn user(&self, serial: u32) -> &str {
        self.users.get(&serial).map(String::as_str).unwrap_or("")
    }
}

/// The user string id packed in a permission (bits 63–40).
fn user_serial(permission: u64) -> u32 {
    ((permission >> 40) & 0xff_ffff) as u32
}

/// User names by serial. With `maskBits` m > 0 (Hadoop 3.2+) an entry's id carries its kind in
/// its top m bits, users being kind 1; before, ids are the serials themselves.
fn read_users(image: &ImageFile) -> Result<HashMap<u32, String>, FsImageError> {
    let mut users = HashMap::new();
    let Some(mut table) = image.messages("STRING_TABLE")? else {
        return Ok(users);
    };
    let header: StringTableSection = table.header()?;
    let mask_bits = header.mask_bits;
    if mask_bits >= 32 {
        return Err(FsImageError::Corrupt(format!(
            "string table mask bits {mask_bits}"
        )));
    }
    while let Some(e) = table.next::<StringTableEntry>()? {
        if mask_bits == 0 {
            users.insert(e.id, e.str);
        } else {
            let shift = 32 - mask_bits;
            if e.id >> shift == 1 {
                users.insert(e.id & ((1u32 << shift) - 1), e.str);
            }
        }
    }
    Ok(users)
}

/// Directory names, once each in one buffer: by node (listing) and by (parent, name) through
/// a 64-bit hash of the name (resolving), collisions kept aside.
#[derive(Default)]
struct DirNames {
    bytes: Vec<u8>,
    /// node → (offset, length) in `bytes`.
    by_node: HashMap<u32, (u64, u32)>,
    by_parent: HashMap<(u32, u64), u32>,
    collisions: HashMap<(u32, u64), Vec<u32>>,
}

impl DirNames {
    fn with_capacity(n: usize) -> DirNames {
        DirNames {
            by_node: HashMap::with_capacity(n),
            by_parent: HashMap::with_capacity(n),
            ..DirNames::default()
        }
    }

    /// FNV-1a: fast on short names and the same in every process.
    fn hash(name: &[u8]) -> u64 {
        name.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    fn insert(&mut self, parent: u32, node: u32, name: &[u8]) {
        let offset = self.bytes.len() as u64;
        self.bytes.extend_from_slice(name);
        self.by_node.insert(node, (offset, name.len() as u32));
        let key = (parent, Self::hash(name));
        match self.by_parent.get(&key) {
            Some(&first) if first != node => self.collisions.entry(key).or_default().push(node),
            _ => {
                self.by_parent.insert(key, node);
            }
        }
    }

    fn name(&self, node: u32) -> Option<&[u8]> {
        let &(offset, len) = self.by_node.get(&node)?;
        self.bytes
            .get(offset as usize..offset as usize + len as usize)
    }

    fn child(&self, parent: u32, name: &[u8]) -> Option<u32> {
        let key = (parent, Self::hash(name));
        let first = self.by_parent.get(&key).copied();
        first
            .into_iter()
            .chain(self.collisions.get(&key).into_iter().flatten().copied())
            .find(|&n| self.name(n) == Some(name))
    }
}
