//! The sinks a run's features bring, wired in one place and in one order: the counter, the
//! store sink, MQTT (after the store: sinks finish in order, so the MQTT thread's final totals
//! and read-backs see everything committed), the HTTP listener, and for synthetic scenes the
//! ground-truth score.

use super::EdgeConfig;
use anyhow::Result;
use ssd_edge::count::Counter;
use ssd_edge::pipeline::Pipeline;
#[cfg(feature = "mqtt")]
use ssd_edge::sink::mqtt;
use ssd_edge::sink::store::StoreSink;
use ssd_edge::sink::GroundTruthSink;
use ssd_edge::store::{RunInfo, Store};

/// What the outputs need to know about the run.
pub struct Outputs<'a> {
    #[cfg_attr(not(any(feature = "mqtt", feature = "http")), allow(dead_code))]
    pub cfg: &'a EdgeConfig,
    pub model_name: String,
    pub source_name: String,
    /// The model's input size (the status page shows it).
    pub input: (u32, u32),
    /// The configured frame size, if known before the first frame.
    pub frame_size: Option<(u32, u32)>,
    pub synthetic: bool,
}

impl Outputs<'_> {
    pub fn attach(
        self,
        mut pipeline: Pipeline,
        counter: Option<Counter>,
        store: Option<Store>,
    ) -> Result<Pipeline> {
        #[cfg(feature = "mqtt")]
        let mqtt_keys = counter
            .as_ref()
            .map(mqtt::CountKeys::of)
            .unwrap_or_default();
        if let Some(c) = counter {
            pipeline = pipeline.with_counter(c);
        }
        #[cfg(feature = "mqtt")]
        let mut store_link = None;
        let mut store_status = None;
        let store_path = store.as_ref().map(|s| s.path().to_owned());
        if let Some(store) = store {
            let info = RunInfo {
                version: env!("CARGO_PKG_VERSION").to_string(),
                model: self.model_name.clone(),
            };
            let sink = StoreSink::start(store, info)?;
            #[cfg(feature = "mqtt")]
            {
                store_link = Some(mqtt::StoreLink {
                    path: sink.path().to_owned(),
                    run_id: sink.run_id(),
                });
            }
            store_status = Some(sink.status_handle());
            pipeline = pipeline.with_sink(Box::new(sink));
        }
        #[cfg(feature = "mqtt")]
        if let Some(m) = &self.cfg.mqtt {
            let sink = mqtt::MqttSink::start(m, mqtt_keys, store_link, &self.model_name)?;
            pipeline = pipeline.with_sink(Box::new(sink));
        }
        #[cfg(feature = "http")]
        if let Some(http) = &self.cfg.http {
            let facts = crate::cli::serve::RunFacts {
                model: self.model_name.clone(),
                source: self.source_name,
                frame_size: self.frame_size,
                store_path,
                store_status,
            };
            pipeline = crate::cli::serve::attach(pipeline, http, self.cfg, self.input, facts)?;
        }
        #[cfg(not(feature = "http"))]
        let _ = (
            self.input,
            self.source_name,
            self.frame_size,
            store_path,
            store_status,
        );
        if self.synthetic {
            let gt = GroundTruthSink::new(pipeline.labels(), 0.5);
            pipeline = pipeline.with_sink(Box::new(gt));
        }
        Ok(pipeline)
    }
}
