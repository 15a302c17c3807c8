//! A compressed IDX file that inflates far past what its header declares is refused
//! after reading the header and the data it sizes: memory and work stay bounded by the
//! header, not by what the stream would inflate to.

use std::io::{Read, Write};

use cifar_data::{DataError, load_fashion_mnist, read_idx_from, write_mnist};

/// A one-label IDX header followed by `zeros` zero bytes, gzip-compressed.
fn one_label_bomb(zeros: usize) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&[0, 0, 8, 1, 0, 0, 0, 1, 3]).unwrap();
    let block = vec![0u8; 1 << 20];
    for _ in 0..zeros / block.len() {
        gz.write_all(&block).unwrap();
    }
    gz.finish().unwrap()
}

/// A reader over bytes that counts what is taken from it and refuses (with a test
/// failure) to give more than `limit` bytes.
struct Bounded<'a> {
    bytes: &'a [u8],
    taken: usize,
    limit: usize,
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.bytes.len() - self.taken);
        assert!(
            self.taken + n <= self.limit,
            "the reader read {} of {} bytes: past the header's data",
            self.taken + n,
            self.bytes.len()
        );
        buf[..n].copy_from_slice(&self.bytes[self.taken..self.taken + n]);
        self.taken += n;
        Ok(n)
    }
}

#[test]
fn gzip_bomb_stops_after_the_declared_data() {
    // 256 MiB of zeros in about 250 kB; the whole stream would inflate to 256 MiB.
    let bomb = one_label_bomb(256 << 20);
    // Decoders read ahead in buffers of a few tens of kB: allow 96 kB, well under half the file.
    let limit = 96 << 10;
    assert!(bomb.len() > 2 * limit, "{} bytes", bomb.len());
    let mut reader = Bounded {
        bytes: &bomb,
        taken: 0,
        limit,
    };
    let err = read_idx_from(&mut reader, "bomb-idx1-ubyte.gz".as_ref()).unwrap_err();
    assert!(
        matches!(err, DataError::TrailingData { offset: 9, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("bomb-idx1-ubyte.gz") && msg.contains("offset 9"),
        "{msg}"
    );
    assert!(
        reader.taken <= limit,
        "{} compressed bytes read",
        reader.taken
    );
}

#[test]
fn endless_raw_stream_is_not_read_to_its_end() {
    // A raw header of 2 labels followed by "endless" zeros: reading stops 64 KiB past
    // the data at the latest.
    let mut bytes = vec![0, 0, 8, 1, 0, 0, 0, 2, 1, 2];
    bytes.resize(64 << 20, 0);
    let mut reader = Bounded {
        bytes: &bytes,
        taken: 0,
        limit: 1 << 20,
    };
    let err = read_idx_from(&mut reader, "endless".as_ref()).unwrap_err();
    assert!(
        matches!(err, DataError::TrailingData { offset: 10, .. }),
        "{err:?}"
    );
}

#[test]
fn bomb_in_a_dataset_folder_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ds = cifar_data::Dataset::new(
        ndarray::Array4::zeros((1, 1, 28, 28)),
        ndarray::Array1::from(vec![3u8]),
        (0..10).map(|i| i.to_string()).collect(),
    )
    .unwrap();
    write_mnist(dir.path(), &ds, &ds, true).unwrap();
    let labels = dir.path().join("train-labels-idx1-ubyte.gz");
    std::fs::write(&labels, one_label_bomb(16 << 20)).unwrap();
    let err = load_fashion_mnist(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::TrailingData { .. }), "{err:?}");
    assert!(
        err.to_string().contains("train-labels-idx1-ubyte.gz"),
        "{err}"
    );
}

#[test]
fn small_excess_is_still_counted_exactly() {
    let mut bytes = vec![0u8, 0, 8, 1, 0, 0, 0, 1, 4];
    bytes.extend([0; 7]);
    let err = read_idx_from(&bytes[..], "y".as_ref()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TrailingBytes {
                offset: 9,
                extra: 7,
                ..
            }
        ),
        "{err:?}"
    );
}
