//! The seed corpora of the fuzz targets, made by the project's own writers (IDX,
//! CIFAR batches, nn model files) and the libraries the readers are meant for (tar,
//! gzip, PNG/JPEG), plus a few hostile archives. Small on purpose: the fuzzer grows
//! its own corpus from them in `fuzz/corpus/` (not committed).

use std::io::Write;
use std::path::Path;

use cifar_data::{write_cifar_batch, write_idx};
use ndarray::{Array1, Array4, ArrayD, IxDyn};

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Architecture specs the documentation and the tests use.
const SPECS: [&str; 6] = [
    "fc10",
    "fc20-relu,fc3",
    "conv4x3-relu-pool,fc3",
    "conv8x3-bn-relu-pool,conv8x3-bn-relu-pool,fc16-relu-drop0.5,fc10",
    "conv4x3-gn2-relu,pool2,fc5",
    "fc16-bn-relu-drop0.9,fc16-relu,fc2",
];

/// Writes every target's seeds under `root/TARGET/`; returns how many files.
pub fn write_all(root: &Path) -> Res<usize> {
    let mut n = 0;
    let mut put = |target: &str, name: &str, bytes: &[u8]| -> Res {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)?;
        n += 1;
        Ok(())
    };
    let tmp = tempfile::tempdir()?;

    // IDX: labels and images, raw and gzip; idx_gz compresses its input itself.
    let labels = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1u8, 0, 9])?;
    let images = ArrayD::from_shape_fn(IxDyn(&[2, 3, 3]), |i| (i[0] * 9 + i[1] * 3 + i[2]) as u8);
    for (name, a) in [
        ("labels-idx1-ubyte", &labels),
        ("images-idx3-ubyte", &images),
    ] {
        for gz in ["", ".gz"] {
            let path = tmp.path().join(format!("{name}{gz}"));
            write_idx(&path, &a.view())?;
            let bytes = std::fs::read(&path)?;
            put("idx_raw", &format!("{name}{gz}"), &bytes)?;
            if gz.is_empty() {
                put("idx_gz", name, &bytes)?;
            }
        }
    }

    // CIFAR batches of one and two records.
    for n_img in [1usize, 2] {
        let path = tmp.path().join("b.bin");
        let pix =
            Array4::from_shape_fn((n_img, 3, 32, 32), |(i, c, h, w)| (i + c * 5 + h * w) as u8);
        let lab = Array1::from_shape_fn(n_img, |i| (i * 7 % 10) as u8);
        write_cifar_batch(&path, &pix.view(), &lab.view())?;
        put(
            "cifar_batch",
            &format!("batch-{n_img}.bin"),
            &std::fs::read(&path)?,
        )?;
    }

    // Archives: a plain folder, its gzip, and the hostile entries unpacking refuses.
    let plain = tar_of(&[Entry::File("cifar-10-batches-bin/batches.meta.txt")])?;
    put("unpack", "plain.tar", &plain)?;
    put("unpack", "plain.tar.gz", &gzip(&plain)?)?;
    put(
        "unpack",
        "symlink.tar",
        &tar_of(&[Entry::Symlink("d/link", "/etc/passwd")])?,
    )?;
    put(
        "unpack",
        "hardlink.tar",
        &tar_of(&[Entry::File("d/a"), Entry::Hardlink("d/b", "d/a")])?,
    )?;
    put(
        "unpack",
        "parent.tar",
        &tar_of(&[Entry::File("d/../../evil.txt")])?,
    )?;

    // Pictures for predict: grey and colour PNG, a JPEG, one with alpha.
    let png = |img: image::DynamicImage, format| -> Res<Vec<u8>> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format)?;
        Ok(out.into_inner())
    };
    let grey = image::GrayImage::from_fn(8, 8, |x, y| image::Luma([(x * 30 + y) as u8]));
    let rgb = image::RgbImage::from_fn(6, 4, |x, y| {
        image::Rgb([(x * 40) as u8, (y * 60) as u8, 90])
    });
    let rgba = image::RgbaImage::from_pixel(3, 3, image::Rgba([10, 20, 30, 128]));
    put(
        "image",
        "grey.png",
        &png(grey.into(), image::ImageFormat::Png)?,
    )?;
    put(
        "image",
        "rgb.png",
        &png(rgb.clone().into(), image::ImageFormat::Png)?,
    )?;
    put(
        "image",
        "rgb.jpg",
        &png(rgb.into(), image::ImageFormat::Jpeg)?,
    )?;
    put(
        "image",
        "rgba.png",
        &png(rgba.into(), image::ImageFormat::Png)?,
    )?;

    // Model files and a checkpoint written by nn itself.
    use nn::Model;
    let models: Vec<(&str, Box<dyn Model<f32>>)> = vec![
        (
            "two-layer",
            Box::new(nn::fc::TwoLayerNet::<f32>::new(nn::fc::TwoLayerConfig {
                input_dim: 4,
                hidden_dim: 3,
                num_classes: 2,
                ..Default::default()
            })),
        ),
        (
            "fc-bn",
            Box::new(nn::fc::FullyConnectedNet::<f32>::new(nn::fc::FcConfig {
                input_dim: 3,
                hidden_dims: vec![4],
                num_classes: 2,
                normalization: nn::layers::Normalization::BatchNorm,
                ..Default::default()
            })),
        ),
        (
            "sequential",
            Box::new(nn::cnn::SequentialNet::<f32>::new(
                nn::cnn::SequentialNetConfig::new("conv2x3-bn-relu-pool,fc3", &[1, 4, 4]),
            )?),
        ),
    ];
    for (name, model) in &models {
        let path = tmp.path().join("m.safetensors");
        nn::checkpoint::save_model(&path, model.as_ref())?;
        put(
            "checkpoint",
            &format!("{name}.safetensors"),
            &std::fs::read(&path)?,
        )?;
    }

    for (i, spec) in SPECS.iter().enumerate() {
        put("spec", &format!("spec-{i}.txt"), spec.as_bytes())?;
    }
    Ok(n)
}

/// One entry of a seed archive.
enum Entry<'a> {
    File(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// A tar archive of the entries; names are written raw, so `..` gets through.
fn tar_of(entries: &[Entry<'_>]) -> Res<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        let (name, link, kind) = match e {
            Entry::File(n) => (n, None, tar::EntryType::Regular),
            Entry::Symlink(n, to) => (n, Some(to), tar::EntryType::Symlink),
            Entry::Hardlink(n, to) => (n, Some(to), tar::EntryType::Link),
        };
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        if let Some(to) = link {
            h.set_link_name(to)?;
        }
        let body: &[u8] = if link.is_some() { b"" } else { b"airplane\n" };
        h.set_size(body.len() as u64);
        h.set_cksum();
        b.append(&h, body)?;
    }
    Ok(b.into_inner()?)
}

fn gzip(bytes: &[u8]) -> Res<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes)?;
    Ok(gz.finish()?)
}
