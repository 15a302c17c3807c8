//! Random crops and flips.

use ndarray::Array4;
use nn::{Augment, random_crop};

#[test]
fn augmentation_crops_shift_and_flip_mirror() {
    let x = Array4::from_shape_fn((1, 1, 3, 3), |(_, _, i, j)| (i * 3 + j + 1) as f64);
    let mut rng = numeric::rng(0);
    let mut seen_shift = false;
    for _ in 0..50 {
        let out = random_crop(&x.view(), 1, &mut rng);
        // Every crop is the image shifted by at most one pixel: the centre is an
        // original pixel or a neighbour of the original centre.
        assert!([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0].contains(&out[[0, 0, 1, 1]]));
        seen_shift |= out[[0, 0, 1, 1]] != 5.0;
    }
    assert!(seen_shift);
    let a = Augment {
        crop_pad: 0,
        flip: true,
    };
    let flipped = (0..20)
        .map(|_| a.apply(&x.view(), &mut rng))
        .find(|o| o[[0, 0, 0, 0]] == 3.0)
        .expect("a flip in 20 draws");
    assert_eq!(
        flipped.into_raw_vec_and_offset().0,
        vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0, 9.0, 8.0, 7.0]
    );
}
