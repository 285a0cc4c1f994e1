//! SeaweedFS S3 and its Iceberg REST catalog, each reached through a faulty HTTP proxy in front
//! of a faulty link: the store of the cluster tests that fail storage and catalog calls.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;

use crate::env::S3Services;
use crate::faulty_http::{FaultyHttp, HttpFault, Requests};
use crate::faulty_link::{FaultyLink, LinkFault};

/// Which proxy a fault is armed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    Store,
    Catalog,
}

/// The HTTP faults, armed in turn: (proxy, fault, requests).
pub const HTTP_FAULTS: [(Proxy, HttpFault, Requests); 5] = [
    (Proxy::Store, HttpFault::FailMidUpload, Requests::Uploads),
    (Proxy::Catalog, HttpFault::LoseAnswer, Requests::Commits),
    (
        Proxy::Store,
        HttpFault::BadGatewayAfterLanding,
        Requests::Uploads,
    ),
    (
        Proxy::Catalog,
        HttpFault::BadGatewayAfterLanding,
        Requests::Commits,
    ),
    (Proxy::Store, HttpFault::LoseAnswer, Requests::Uploads),
];

/// S3 and the REST catalog behind proxies and links that fail on command.
pub struct FaultyStore {
    /// The services as a job reaches them: through the proxies.
    pub services: S3Services,
    store: FaultyLink,
    store_http: FaultyHttp,
    catalog: FaultyLink,
    catalog_http: FaultyHttp,
}

impl FaultyStore {
    /// Puts a link and a proxy in front of each of `s3`'s store and catalog.
    pub fn in_front_of(s3: S3Services) -> FaultyStore {
        let store = FaultyLink::to(split_uri(&s3.endpoint).0);
        let store_http = FaultyHttp::to(store.address());
        let (catalog_at, catalog_path) = split_uri(&s3.rest_uri);
        let catalog = FaultyLink::to(catalog_at);
        let catalog_http = FaultyHttp::to(catalog.address());
        let services = S3Services {
            endpoint: format!("http://{}", store_http.address()),
            rest_uri: format!("http://{}{catalog_path}", catalog_http.address()),
            ..s3
        };
        FaultyStore {
            services,
            store,
            store_http,
            catalog,
            catalog_http,
        }
    }

    fn proxy(&self, proxy: Proxy) -> &FaultyHttp {
        match proxy {
            Proxy::Store => &self.store_http,
            Proxy::Catalog => &self.catalog_http,
        }
    }

    /// Arms the `turn`th of [`HTTP_FAULTS`] (round robin) for `count` requests.
    pub fn arm(&self, turn: usize, count: u32) {
        let (proxy, fault, requests) = HTTP_FAULTS[turn % HTTP_FAULTS.len()];
        self.proxy(proxy).arm(fault, requests, count);
    }

    /// Cuts every open connection to the store (more often) or the catalog, or takes its link
    /// dark for up to 3 s and then cuts what was left hanging.
    pub fn fail_a_link(&self, rng: &mut StdRng) {
        let (name, link) = if rng.random_bool(0.6) {
            ("the store", &self.store)
        } else {
            ("the catalog", &self.catalog)
        };
        if rng.random_bool(0.7) {
            eprintln!("[faulty store] cut every connection to {name}");
            link.cut();
        } else {
            let dark = Duration::from_millis(rng.random_range(500..=3_000));
            eprintln!("[faulty store] {name} dark for {dark:?}");
            link.set(LinkFault::BlackHole);
            std::thread::sleep(dark);
            link.set(LinkFault::None);
            link.cut();
        }
    }

    /// Ends the faults: what is armed and not yet hit is dropped, and the links carry traffic.
    pub fn calm(&self) {
        self.store_http.disarm();
        self.catalog_http.disarm();
        self.store.set(LinkFault::None);
        self.catalog.set(LinkFault::None);
    }

    /// How many requests each of [`HTTP_FAULTS`] was done to, logged.
    pub fn hits(&self) -> Vec<usize> {
        HTTP_FAULTS
            .iter()
            .map(|&(proxy, fault, requests)| {
                let hits = self.proxy(proxy).hits(fault);
                eprintln!("[faulty store] {proxy:?}: {fault:?} on {requests:?} hit {hits} times");
                hits
            })
            .collect()
    }
}

/// `http://host:port[/path]` → (`host:port`, `/path`).
fn split_uri(uri: &str) -> (&str, &str) {
    let rest = uri.trim_start_matches("http://");
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    }
}
