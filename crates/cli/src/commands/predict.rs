//! `cs231n predict`: classifies image files with a saved model (linear, nn or cnn),
//! converting each image to the model's input shape and preprocessing.

use std::path::Path;

use linear::{LinearClassifier, Loss};
use ndarray::Array2;
use serde_json::json;

use crate::args::PredictArgs;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::imageio::load_as_chw;
use crate::model_check;
use crate::model_file::ModelFile;

/// A loaded model, ready to score preprocessed rows.
enum Predictor {
    Linear(LinearClassifier<f32>),
    /// A network rebuilt by `nn` from its configuration, with the file's weights.
    Net(Box<dyn nn::Model<f32>>),
}

impl Predictor {
    fn from_file(path: &Path, file: &ModelFile) -> Result<Self> {
        match file.kind.as_str() {
            "linear" => {
                let loss: Loss = file
                    .config
                    .get("loss")
                    .and_then(|v| v.as_str())
                    .unwrap_or("softmax")
                    .parse()
                    .map_err(|e| CliError::Model {
                        path: path.to_owned(),
                        reason: format!("config: {e}"),
                    })?;
                let w = file.param2(path, "W")?;
                let expected = file.prep.mean_image.len() + usize::from(file.prep.bias);
                if w.nrows() != expected || w.ncols() != file.classes.len() {
                    return Err(CliError::Model {
                        path: path.to_owned(),
                        reason: format!(
                            "W is {:?} but the file declares {expected} features and {} classes",
                            w.dim(),
                            file.classes.len()
                        ),
                    });
                }
                Ok(Predictor::Linear(LinearClassifier::from_weights(loss, w)))
            }
            "nn" | "cnn" => {
                // nn checks the stored configuration against the tensors the file holds
                // before building anything, then every tensor's name and shape.
                let model = nn::rebuild_model::<f32>(
                    &file.config,
                    file.params.clone(),
                    file.buffers.clone(),
                    path,
                )
                .map_err(|e| CliError::library("model", e))?;
                Ok(Predictor::Net(model))
            }
            other => Err(CliError::Model {
                path: path.to_owned(),
                reason: format!("unknown model kind `{other}`"),
            }),
        }
    }

    /// Class scores (N, C) of preprocessed rows.
    fn scores(&mut self, x: &Array2<f32>) -> Result<Array2<f32>> {
        match self {
            Predictor::Linear(clf) => clf
                .scores(&x.view())
                .map_err(|e| CliError::library("linear scores", e)),
            Predictor::Net(model) => {
                // Rows (N, D) reshaped to the model's input: (N, D) or (N, C, H, W).
                let mut shape = vec![x.nrows()];
                shape.extend(model.input_shape());
                let input = x
                    .clone()
                    .into_shape_with_order(ndarray::IxDyn(&shape))
                    .map_err(|_| {
                        CliError::library(
                            "predict",
                            format!(
                                "the model takes {:?} per image but the file's preprocessing gives {} values",
                                model.input_shape(),
                                x.ncols()
                            ),
                        )
                    })?;
                Ok(model.scores(&input.view()))
            }
        }
    }
}

/// Softmax of one row of scores, shifted by its max for stability.
pub fn softmax(scores: &[f32]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exp: Vec<f64> = scores.iter().map(|&s| (s as f64 - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// Prints the top class and probabilities of each image. An image that cannot be
/// read is reported on stderr and skipped; the command then fails at the end, after
/// classifying the others.
pub fn run(ctx: &mut Ctx, args: &PredictArgs) -> Result<()> {
    model_check::preflight(&args.model)?;
    let file = ModelFile::load(&args.model)?;
    model_check::check_values(&args.model, &file)?;
    let mut model = Predictor::from_file(&args.model, &file)?;
    ctx.report.set("dataset", file.dataset.clone());
    ctx.report.set("model", args.model.display().to_string());
    ctx.report.set("kind", file.kind.clone());
    let (c, h, w) = file.prep.image_shape;
    let d = file.prep.mean_image.len(); // C·H·W, checked against the file by preflight
    let mut pixels = Vec::new();
    let mut read = Vec::new();
    let mut unreadable = Vec::new();
    for path in &args.images {
        match load_as_chw(path, c, h, w) {
            Ok(img) => {
                pixels.extend(img.iter().map(|&p| f32::from(p)));
                read.push(path);
            }
            Err(e) => {
                ctx.report.notice(format!("error: {e}"));
                unreadable
                    .push(json!({ "image": path.display().to_string(), "error": e.to_string() }));
            }
        }
    }
    // The summary lists what could not be read beside what was classified, so a
    // script reading `--json` sees both even when the command exits 1.
    ctx.report.set("classes", file.classes.clone());
    ctx.report
        .set("predictions", Vec::<serde_json::Value>::new());
    let failed = CliError::Unreadable {
        unreadable: unreadable.len(),
        total: args.images.len(),
    };
    let any_unreadable = !unreadable.is_empty();
    ctx.report.set("unreadable", unreadable);
    if read.is_empty() {
        return Err(failed);
    }
    let rows = Array2::from_shape_vec((read.len(), d), pixels)
        .map_err(|e| CliError::library("predict", e))?;
    let x = file
        .prep
        .apply(rows)
        .map_err(|e| CliError::library("preprocessing", e))?;
    let scores = model.scores(&x)?;
    model_check::check_outputs(&args.model, file.classes.len(), &scores)?;
    let mut out = Vec::new();
    for (path, row) in read.iter().zip(scores.rows()) {
        let p = softmax(&row.to_vec());
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
        let top = order[0];
        let listed: Vec<String> = order
            .iter()
            .take(args.top.max(1))
            .map(|&j| format!("{} {:.1}%", file.classes[j], 100.0 * p[j]))
            .collect();
        ctx.report.say(format!(
            "{}: {} ({})",
            path.display(),
            file.classes[top],
            listed.join(", ")
        ));
        out.push(json!({
            "image": path.display().to_string(),
            "class": file.classes[top],
            "label": top,
            "probabilities": p,
        }));
    }
    ctx.report.set("predictions", out);
    if any_unreadable {
        return Err(failed);
    }
    Ok(())
}
