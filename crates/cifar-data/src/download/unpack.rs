//! Opening an archive safely: only regular files and folders, at relative paths
//! free of `..`, are written; anything else rejects the whole archive.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use super::FetchError;
use super::error::io_err;

/// Unpacks a tar or tar.gz archive into `dest` (created), accepting only regular files
/// and folders whose paths are relative and free of `..`. Returns the files written.
///
/// # Example
/// ```
/// use cifar_data::download::unpack_archive;
/// let dir = tempfile::tempdir().unwrap();
/// let archive = dir.path().join("a.tar");
/// let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
/// let mut h = tar::Header::new_gnu();
/// h.set_size(2);
/// h.set_mode(0o644);
/// h.set_cksum();
/// b.append_data(&mut h, "folder/file.txt", &b"hi"[..]).unwrap();
/// b.finish().unwrap();
/// drop(b);
/// let out = dir.path().join("out");
/// unpack_archive(&archive, &out).unwrap();
/// assert_eq!(std::fs::read(out.join("folder/file.txt")).unwrap(), b"hi");
/// ```
pub fn unpack_archive(archive: &Path, dest: &Path) -> Result<Vec<PathBuf>, FetchError> {
    let archive_err = |source| FetchError::Archive {
        path: archive.to_path_buf(),
        source,
    };
    let mut f = File::open(archive).map_err(io_err(archive))?;
    let mut magic = [0u8; 2];
    let gz = f.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    drop(f);
    let f = BufReader::with_capacity(1 << 20, File::open(archive).map_err(io_err(archive))?);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    std::fs::create_dir_all(dest).map_err(io_err(dest))?;
    let mut tar = tar::Archive::new(reader);
    let mut written = Vec::new();
    for entry in tar.entries().map_err(archive_err)? {
        let mut entry = entry.map_err(archive_err)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let unsafe_entry = |reason| FetchError::UnsafeEntry {
            archive: archive.to_path_buf(),
            entry: raw.clone(),
            reason,
        };
        let kind = entry.header().entry_type();
        use tar::EntryType as E;
        match kind {
            E::Symlink => return Err(unsafe_entry("symbolic links are not allowed")),
            E::Link => return Err(unsafe_entry("hard links are not allowed")),
            E::XGlobalHeader => continue,
            E::Regular | E::Continuous | E::Directory => {}
            _ => return Err(unsafe_entry("only regular files and folders are allowed")),
        }
        let path = entry.path().map_err(archive_err)?.into_owned();
        let mut rel = PathBuf::new();
        for c in path.components() {
            match c {
                Component::Normal(part) => rel.push(part),
                Component::CurDir => {}
                Component::ParentDir => return Err(unsafe_entry("'..' leaves the target folder")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(unsafe_entry("absolute paths are not allowed"));
                }
            }
        }
        if rel.as_os_str().is_empty() {
            continue; // "./" itself
        }
        let out = dest.join(&rel);
        if kind == E::Directory {
            std::fs::create_dir_all(&out).map_err(io_err(&out))?;
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let mut file = File::create(&out).map_err(io_err(&out))?;
        std::io::copy(&mut entry, &mut file).map_err(archive_err)?;
        written.push(rel);
    }
    Ok(written)
}
