//! Network descriptions: feature maps equal the prior configs, heads fit, forward shapes.

use ssd_train::net::spec::Layer;
use ssd_train::net::{NetSpec, SsdNet};
use tch::{nn, Device, Kind, Tensor};

#[test]
fn every_config_matches_its_prior_config() {
    for arch in [
        "vgg16",
        "mobile",
        "mobile@0.5",
        "mobile@0.75",
        "mobile-lite@0.25",
        "mobile-dense@0.25",
        "tiny",
    ] {
        let spec = NetSpec::from_name(arch, 21).unwrap();
        let maps = spec.feature_maps().unwrap();
        assert_eq!(maps, spec.priors.feature_maps, "{arch}");
        assert_eq!(maps, vec![38, 19, 10, 5, 3, 1], "{arch}");
        assert_eq!(spec.num_priors(), 8732, "{arch}");
        println!(
            "{arch}: {:.3} GMAC, {:.2} M params",
            spec.macs() as f64 / 1e9,
            spec.num_params() as f64 / 1e6
        );
    }
}

#[test]
fn vgg16_is_ssd300() {
    let spec = NetSpec::from_name("vgg16", 21).unwrap();
    // ssd.pytorch counts ~26.3M parameters for SSD300-VGG16 with 21 classes.
    let params = spec.num_params();
    assert!((26_000_000..26_500_000).contains(&params), "{params}");
    // ~31 GMAC (machine.md's "about 31 GFLOPs" counts multiply-adds).
    let macs = spec.macs();
    assert!((30e9..32e9).contains(&(macs as f64)), "{macs}");
    let pools: Vec<(usize, bool)> = spec
        .layers
        .iter()
        .filter_map(|l| match l {
            Layer::MaxPool { kernel, ceil, .. } => Some((*kernel, *ceil)),
            _ => None,
        })
        .collect();
    assert_eq!(
        pools,
        vec![(2, false), (2, false), (2, true), (2, false), (3, false)]
    );
}

#[test]
fn bad_configs_are_errors() {
    assert!(NetSpec::from_name("resnet", 21).is_err());
    assert!(NetSpec::from_name("mobile@x", 21).is_err());
    assert!(NetSpec::from_name("mobile@9", 21).is_err());
    assert!(NetSpec::from_name("mobile-lite@x", 21).is_err());
    assert!(NetSpec::from_name("tiny", 1).is_err());
    let mut spec = NetSpec::from_name("tiny", 4).unwrap();
    spec.priors.feature_maps[0] = 37;
    let err = spec.check().unwrap_err().to_string();
    assert!(err.contains("differ"), "{err}");
}

#[test]
fn vgg16_forward_shapes_and_names() {
    tch::manual_seed(0);
    let spec = NetSpec::from_name("vgg16", 21).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let net = SsdNet::new(&vs.root(), &spec).unwrap();
    let vars = vs.variables();
    for name in [
        "vgg.0.weight",
        "vgg.21.bias",
        "vgg.31.weight",
        "vgg.33.weight",
        "extras.7.weight",
        "loc.0.weight",
        "conf.5.bias",
        "L2Norm.weight",
    ] {
        assert!(vars.contains_key(name), "missing {name}");
    }
    assert_eq!(vars["vgg.31.weight"].size(), vec![1024, 512, 3, 3]);
    assert_eq!(vars["conf.1.weight"].size(), vec![6 * 21, 1024, 3, 3]);
    assert_eq!(vars.len(), 15 * 2 + 8 * 2 + 12 * 2 + 1);
    let l2 = Vec::<f32>::try_from(&vars["L2Norm.weight"]).unwrap();
    assert!(l2.iter().all(|&v| v == 20.0));
    let x = Tensor::randn([1, 3, 300, 300], (Kind::Float, Device::Cpu));
    net.check_input(&x).unwrap();
    let (loc, conf) = tch::no_grad(|| net.forward_t(&x, false));
    assert_eq!(loc.size(), vec![1, 8732, 4]);
    assert_eq!(conf.size(), vec![1, 8732, 21]);
    assert!(net
        .check_input(&Tensor::zeros([1, 3, 299, 300], (Kind::Float, Device::Cpu)))
        .is_err());
}

/// Prior order: the first map's priors come first, cell by cell (row-major), 4 boxes each.
/// A bias on one box slot of loc.0 must show up at every 4th prior of the first 5776.
#[test]
fn head_output_follows_prior_order() {
    let spec = NetSpec::from_name("tiny", 4).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let net = SsdNet::new(&vs.root(), &spec).unwrap();
    let vars = vs.variables();
    tch::no_grad(|| {
        for (n, v) in &vars {
            if n.starts_with("loc.") || n.starts_with("conf.") {
                let _ = v.shallow_clone().zero_();
            }
        }
        // loc.0 channel 4*box + coord: box 2, coord 1 -> channel 9.
        let _ = vars["loc.0.bias"].shallow_clone().get(9).fill_(1.0);
        // conf.3 (5x5 map, 6 boxes, 4 classes): box 5, class 3 -> channel 23.
        let _ = vars["conf.3.bias"].shallow_clone().get(23).fill_(1.0);
    });
    let x = Tensor::randn([2, 3, 300, 300], (Kind::Float, Device::Cpu));
    let (loc, conf) = tch::no_grad(|| net.forward_t(&x, false));
    let loc = Vec::<f32>::try_from(loc.get(1).reshape([-1])).unwrap();
    let conf = Vec::<f32>::try_from(conf.get(1).reshape([-1])).unwrap();
    for p in 0..8732 {
        for k in 0..4 {
            let want = if p < 5776 && p % 4 == 2 && k == 1 {
                1.0
            } else {
                0.0
            };
            assert_eq!(loc[p * 4 + k], want, "prior {p} coord {k}");
        }
    }
    let start = 5776 + 2166 + 600;
    for p in 0..8732 {
        for c in 0..4 {
            let want = if (start..start + 150).contains(&p) && (p - start) % 6 == 5 && c == 3 {
                1.0
            } else {
                0.0
            };
            assert_eq!(conf[p * 4 + c], want, "prior {p} class {c}");
        }
    }
}

/// The variances live in the net spec alone: the export writes the spec's, whatever they are
/// (the loader's targets and validation decoding read the same field).
#[test]
fn exported_variances_are_the_net_specs() {
    use ssd_core::ssd::Variances;
    let mut spec = ssd_train::net::NetSpec::from_name("tiny", 4).unwrap();
    assert_eq!(spec.variances, Variances::default());
    spec.variances = Variances {
        center: 0.15,
        size: 0.3,
    };
    let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let meta = ssd_train::export::meta_for(
        &spec,
        &names,
        ssd_model::model::InputSpec::imagenet_rgb(300),
        Default::default(),
    );
    assert_eq!(meta.variances, spec.variances);
}

/// `ARCH+PRESET` keeps the network and swaps the default boxes, and the export carries the
/// new boxes: a model trained on the street priors decodes with them on the board.
#[test]
fn a_prior_preset_replaces_the_boxes_and_reaches_the_metadata() {
    use ssd_core::ssd::PriorConfig;
    let plain = NetSpec::from_name("mobile@0.25", 4).unwrap();
    let street = NetSpec::from_name("mobile@0.25+street", 4).unwrap();
    assert_eq!(street.arch, "mobile@0.25+street");
    assert_eq!(street.priors, PriorConfig::ssd300_street());
    assert_ne!(street.priors, plain.priors);
    assert_eq!(street.layers, plain.layers);
    assert_eq!(street.heads, plain.heads);
    let names: Vec<String> = ["person", "car", "bicycle"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let meta = ssd_train::export::meta_for(
        &street,
        &names,
        ssd_model::model::InputSpec::imagenet_rgb(300),
        Default::default(),
    );
    assert_eq!(meta.priors.grid(), Some(&PriorConfig::ssd300_street()));

    let err = NetSpec::from_name("mobile@0.25+wide", 4)
        .unwrap_err()
        .to_string();
    assert!(err.contains("wide") && err.contains("street"), "{err}");
    // SSDLite320's boxes have another grid: refused, not silently mis-sized heads
    let err = NetSpec::from_name("mobile+ssdlite320", 4)
        .unwrap_err()
        .to_string();
    assert!(err.contains("grid"), "{err}");
}

#[test]
fn mobile_lite_changes_only_the_heads() {
    let dense = NetSpec::from_name("mobile@0.25+street", 4).unwrap();
    let lite = NetSpec::from_name("mobile-lite@0.25+street", 4).unwrap();
    assert_eq!(lite.layers, dense.layers);
    assert_eq!(lite.priors, dense.priors);
    assert_eq!(lite.arch, "mobile-lite@0.25+street");
    for (l, d) in lite.heads.iter().zip(&dense.heads) {
        // a depthwise 3x3 before a 1x1 predictor of the same outputs
        assert!(matches!(&l.loc_pre[0], Layer::Conv(c) if c.groups == c.c_in && c.kernel == 3));
        assert_eq!((l.loc.kernel, l.loc.c_out), (1, d.loc.c_out));
        assert_eq!((l.conf.kernel, l.conf.c_out), (1, d.conf.c_out));
    }
    assert!(lite.macs() < dense.macs() && lite.num_params() < dense.num_params());
}

#[test]
fn mobile_dense_writes_the_early_blocks_dense() {
    let sep = NetSpec::from_name("mobile@0.25+street", 4).unwrap();
    let dense = NetSpec::from_name("mobile-dense@0.25+street", 4).unwrap();
    let groups = |s: &NetSpec| -> Vec<usize> {
        s.layers
            .iter()
            .filter_map(|l| match l {
                Layer::Conv(c) if c.kernel == 3 => Some(c.groups),
                _ => None,
            })
            .collect()
    };
    // stem, then the three early blocks' 3x3s: depthwise in `mobile`, dense here; the rest alike
    let (g_sep, g_dense) = (groups(&sep), groups(&dense));
    assert!(g_sep[1..4].iter().all(|&g| g > 1), "{g_sep:?}");
    assert!(g_dense[1..4].iter().all(|&g| g == 1), "{g_dense:?}");
    assert_eq!(g_sep[4..], g_dense[4..]);
    assert_eq!(dense.heads, sep.heads);
    assert!(dense.macs() > sep.macs());
}
