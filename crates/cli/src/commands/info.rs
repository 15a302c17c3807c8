//! `cs231n info`: the dataset's splits and per-class counts.

use crate::ctx::Ctx;
use crate::error::Result;
use crate::output::table;

/// Prints the splits, image shape and per-class counts; JSON: `dataset`, `train`,
/// `test`, `classes`, `per_class_train`, `per_class_test`, `image_shape`.
pub fn run(ctx: &mut Ctx) -> Result<()> {
    let data = ctx.load()?;
    let (c, h, w) = data.train.image_shape();
    let train_counts = data.train.class_counts();
    let test_counts = data.test.class_counts();
    let r = &mut ctx.report;
    r.say(format!(
        "{}: {} training and {} test images of {c}x{h}x{w} ({} values each), {} classes",
        data.source.kind.name(),
        data.train.len(),
        data.test.len(),
        c * h * w,
        data.train.classes.len()
    ));
    let rows: Vec<Vec<String>> = data
        .train
        .classes
        .iter()
        .enumerate()
        .map(|(i, name)| {
            vec![
                format!("{i} {name}"),
                train_counts[i].to_string(),
                test_counts.get(i).copied().unwrap_or(0).to_string(),
            ]
        })
        .collect();
    r.say(table(&["class", "train", "test"], &rows));
    r.set("train", data.train.len());
    r.set("test", data.test.len());
    r.set("classes", data.train.classes.clone());
    r.set("per_class_train", train_counts);
    r.set("per_class_test", test_counts);
    r.set("image_shape", vec![c, h, w]);
    r.set("data_dir", data.source.dir.display().to_string());
    Ok(())
}
