//! A [`Config`] as data in a daemon's trace (`daemon::trace`): its lvs.cf text as the
//! canonical writer gives it, read back by the parser. For a field
//! `#[serde(with = "lvscf::as_text")]`: a trace line then shows the file a reload read.

use serde::{Deserialize, Deserializer, Serializer};

use crate::{parse_str, write_config, Config, ParseOptions};

pub fn serialize<S: Serializer>(c: &Config, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&write_config(c))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Box<Config>, D::Error> {
    let text = String::deserialize(d)?;
    parse_str(&text, "trace", &ParseOptions::default())
        .map(|p| Box::new(p.config))
        .map_err(|f| serde::de::Error::custom(f.first_error()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_config_survives_the_trace() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Reload(#[serde(with = "super")] Box<crate::Config>);
        let text = "serial_no = 7\nprimary = 192.0.2.1\nservice = lvs\nvirtual web {\n address = 192.0.2.100 eth0:1\n port = 80\n server a {\n  address = 10.0.0.1\n }\n}\n";
        let c = crate::parse_str(text, "t", &Default::default())
            .unwrap()
            .config;
        let json = serde_json::to_string(&Reload(Box::new(c.clone()))).unwrap();
        let back: Reload = serde_json::from_str(&json).unwrap();
        // The same model (line numbers aside: they count in the canonical text).
        assert_eq!(crate::write_config(&back.0), crate::write_config(&c));
        assert_eq!(back.0.virtuals[0].servers[0].name, "a");
        assert!(json.contains("serial_no = 7"), "{json}");
    }
}
