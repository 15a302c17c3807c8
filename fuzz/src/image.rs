//! Image input of `cs231n predict`: the command's own decoding (compiled here from
//! `crates/cli/src/imageio.rs`), for a grey and a colour model.

#[allow(dead_code)]
#[path = "../../crates/cli/src/imageio.rs"]
mod imageio;

use std::path::Path;

/// Any bytes as an image for a 1×8×8 grey model and a 3×32×32 colour model.
pub fn image(data: &[u8]) {
    let path = Path::new("fuzz.png");
    for (c, h, w) in [(1, 8, 8), (3, 32, 32)] {
        if let Ok(x) = imageio::decode_as_chw(data, path, c, h, w) {
            assert_eq!(x.dim(), (c, h, w));
        }
    }
}
