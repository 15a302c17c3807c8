//! One module per subcommand; each takes the run's context and its own options.

pub mod backprop;
pub mod build_net;
pub mod compare_updates;
pub mod info;
pub mod knn;
pub mod linear;
pub mod net;
pub mod predict;
pub mod show;
pub mod speedrun;

use crate::ctx::Ctx;
use crate::error::Result;
use crate::plot::{self, Series};

/// Plots a training loss per iteration as `{prefix}_loss.png` in the output folder,
/// titled with the dataset, and records it as the run's loss curve.
fn write_loss_curve(
    ctx: &mut Ctx,
    prefix: &str,
    dataset: &str,
    (x_label, y_label): (&str, &str),
    loss: &[f64],
) -> Result<()> {
    let path = ctx.out_file(&format!("{prefix}_loss.png"))?;
    plot::line_plot(
        &path,
        &format!("{prefix} training loss ({dataset})"),
        x_label,
        y_label,
        &[Series::indexed("loss", loss, false)],
    )?;
    ctx.wrote("loss curve", &path);
    Ok(())
}
