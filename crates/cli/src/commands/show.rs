//! `cs231n show`: a few example images of every class, as the notebook's first figure.

use crate::args::{ShowArgs, Split};
use crate::ctx::Ctx;
use crate::error::Result;
use crate::imageio::chw_u8_to_rgb;
use crate::plot::ImageGrid;

/// Writes `OUT/examples.png`: one column per class (name on top), `--per-class` rows.
pub fn run(ctx: &mut Ctx, args: &ShowArgs) -> Result<()> {
    let data = ctx.load()?;
    let ds = match args.split {
        Split::Train => &data.train,
        Split::Test => &data.test,
    };
    let per_class = usize::from(args.per_class);
    let classes = ds.classes.len();
    // cells[row][class]: the first `per_class` images of each class, in file order.
    let mut cells = vec![vec![None; classes]; per_class];
    let mut taken = vec![0usize; classes];
    for (i, &label) in ds.labels.iter().enumerate() {
        let c = usize::from(label);
        if c < classes && taken[c] < per_class {
            cells[taken[c]][c] = Some(chw_u8_to_rgb(ds.images.index_axis(ndarray::Axis(0), i)));
            taken[c] += 1;
        }
        if taken.iter().all(|&t| t >= per_class) {
            break;
        }
    }
    let (_, h, _) = ds.image_shape();
    let grid = ImageGrid {
        cells,
        column_titles: ds.classes.clone(),
        title: format!("{} ({:?} split)", data.source.kind.name(), args.split).to_lowercase(),
        scale: if h <= 32 { 2 } else { 1 },
    };
    let path = ctx.out_file("examples.png")?;
    grid.save(&path)?;
    ctx.wrote("example images", &path);
    ctx.report.set("per_class", per_class);
    Ok(())
}
