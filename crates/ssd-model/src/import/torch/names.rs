//! Where each of our parameter names lives in a published state dict. Our VGG16 names are
//! ssd.pytorch's; torchvision's SSD300 holds the same layers under other names; our SSDLite
//! spec is written with torchvision's names, so it maps to itself.

use super::Family;

/// The state-dict key of our parameter `ours` in a file of `family`.
pub fn file_key(family: Family, ours: &str) -> String {
    match family {
        Family::SsdPytorch | Family::TorchvisionSsdlite320 => ours.to_string(),
        Family::TorchvisionSsd300 => torchvision_ssd300(ours),
    }
}

/// ssd.pytorch's `vgg.N` / `extras.N` / `loc.N` / `conf.N` / `L2Norm` onto torchvision's
/// `SSDFeatureExtractorVGG` + `SSDHead`. Both number layers as `nn.Sequential` does (ReLU and
/// pooling take an index), so conv1_1..conv4_3 keep their index; conv5 moved into `extra.0`
/// behind pool4, and fc6/fc7 into `extra.0.7` behind pool5.
fn torchvision_ssd300(ours: &str) -> String {
    let split = |rest: &str| -> Option<(usize, String)> {
        let (i, param) = rest.split_once('.')?;
        Some((i.parse().ok()?, param.to_string()))
    };
    if ours == "L2Norm.weight" {
        return "backbone.scale_weight".into();
    }
    if let Some((i, p)) = ours.strip_prefix("vgg.").and_then(split) {
        return match i {
            0..=22 => format!("backbone.features.{i}.{p}"),
            24..=29 => format!("backbone.extra.0.{}.{p}", i - 23),
            31 => format!("backbone.extra.0.7.1.{p}"),
            33 => format!("backbone.extra.0.7.3.{p}"),
            _ => ours.to_string(),
        };
    }
    if let Some((i, p)) = ours.strip_prefix("extras.").and_then(split) {
        return format!("backbone.extra.{}.{}.{p}", 1 + i / 2, (i % 2) * 2);
    }
    if let Some((i, p)) = ours.strip_prefix("loc.").and_then(split) {
        return format!("head.regression_head.module_list.{i}.{p}");
    }
    if let Some((i, p)) = ours.strip_prefix("conf.").and_then(split) {
        return format!("head.classification_head.module_list.{i}.{p}");
    }
    ours.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torchvision_vgg_names() {
        let f = |s| file_key(Family::TorchvisionSsd300, s);
        assert_eq!(f("vgg.0.weight"), "backbone.features.0.weight");
        assert_eq!(f("vgg.21.bias"), "backbone.features.21.bias");
        assert_eq!(f("vgg.24.weight"), "backbone.extra.0.1.weight");
        assert_eq!(f("vgg.28.weight"), "backbone.extra.0.5.weight");
        assert_eq!(f("vgg.31.weight"), "backbone.extra.0.7.1.weight");
        assert_eq!(f("vgg.33.bias"), "backbone.extra.0.7.3.bias");
        assert_eq!(f("extras.0.weight"), "backbone.extra.1.0.weight");
        assert_eq!(f("extras.7.bias"), "backbone.extra.4.2.bias");
        assert_eq!(f("L2Norm.weight"), "backbone.scale_weight");
        assert_eq!(
            f("conf.5.weight"),
            "head.classification_head.module_list.5.weight"
        );
        assert_eq!(f("loc.0.bias"), "head.regression_head.module_list.0.bias");
    }
}
