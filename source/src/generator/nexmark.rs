//! Nexmark's auction events (persons, auctions and bids) as JSON, deterministic per event id,
//! by the published generator's rules (Beam's and Flink's Nexmark): of every 50 events, one is a
//! person, three are auctions and 46 are bids; ids start at 1000; bids go mostly to a few hot
//! auctions and come mostly from a few hot bidders; prices are log-uniform between $1 and $1M.
//!
//! Each event is `{"event_type": 0 | 1 | 2, "dateTime": ms, "person" | "auction" | "bid": {…}}`,
//! Flink Nexmark's table, with the event's time also at the top so one field holds every
//! kind's event time.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Events per epoch, and of them persons and auctions (the rest are bids).
const EPOCH: u64 = 50;
const PERSONS: u64 = 1;
const AUCTIONS: u64 = 3;
const FIRST_PERSON_ID: u64 = 1_000;
const FIRST_AUCTION_ID: u64 = 1_000;
const FIRST_CATEGORY_ID: u64 = 10;
const CATEGORIES: u64 = 5;
/// Hot auctions, bidders and sellers are the first of each batch of this many.
const HOT_BATCH: u64 = 100;
/// 1 − 1/ratio of bids go to a hot auction, from a hot bidder; of auctions, by a hot seller.
const HOT_AUCTION_RATIO: u32 = 2;
const HOT_BIDDER_RATIO: u32 = 4;
const HOT_SELLER_RATIO: u32 = 4;
/// Persons and auctions a random choice is made among, and how far past the last it may reach.
const ACTIVE_PEOPLE: u64 = 1_000;
const IN_FLIGHT_AUCTIONS: u64 = 100;
const ID_LEAD: u64 = 10;
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];

/// The kind of a Nexmark event, as its `event_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NexmarkKind {
    Person = 0,
    Auction = 1,
    Bid = 2,
}

/// One generated event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NexmarkEvent {
    pub kind: NexmarkKind,
    /// What the queries key it by: a bid's bidder, an auction's id, a person's id.
    pub key: u64,
    pub json: String,
}

/// A seeded stream of Nexmark events.
#[derive(Debug, Clone)]
pub struct NexmarkEvents {
    seed: u64,
}

/// The last person id (base 0) at event `id`: the one it makes, if it makes a person.
fn last_person(id: u64) -> u64 {
    let (epoch, offset) = (id / EPOCH, id % EPOCH);
    // Past the epoch's persons, the last one it made.
    epoch * PERSONS
        + if offset < PERSONS {
            offset
        } else {
            PERSONS - 1
        }
}

/// The last auction id (base 0) at event `id`: the one it makes, if it makes an auction.
fn last_auction(id: u64) -> i64 {
    let (epoch, offset) = ((id / EPOCH) as i64, (id % EPOCH) as i64);
    let (persons, auctions) = (PERSONS as i64, AUCTIONS as i64);
    if offset < persons {
        (epoch - 1) * auctions + auctions - 1
    } else {
        epoch * auctions + (offset - persons).min(auctions - 1)
    }
}

/// A price in cents, log-uniform from $1 to $1M.
fn price(rng: &mut SmallRng) -> u64 {
    (10f64.powf(rng.random::<f64>() * 6.0) * 100.0).round() as u64
}

/// `len` random lower-case letters.
fn letters(rng: &mut SmallRng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect()
}

/// Padding that brings an event of `size` bytes to about `average`.
fn extra(rng: &mut SmallRng, size: usize, average: usize) -> String {
    if size >= average {
        return String::new();
    }
    let want = average - size;
    let len = rng.random_range(want * 9 / 10..=want * 11 / 10);
    letters(rng, len)
}

impl NexmarkEvents {
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// A random person among the active ones, or a few ahead of the last.
    fn some_person(id: u64, rng: &mut SmallRng) -> u64 {
        let people = last_person(id) + 1;
        let active = people.min(ACTIVE_PEOPLE);
        people - active + rng.random_range(0..active + ID_LEAD)
    }

    /// A random auction among those in flight, or a few ahead of the last.
    fn some_auction(id: u64, rng: &mut SmallRng) -> u64 {
        let last = last_auction(id).max(0) as u64;
        let first = last.saturating_sub(IN_FLIGHT_AUCTIONS);
        first + rng.random_range(0..last - first + 1 + ID_LEAD)
    }

    /// Event `id`, happening at `time_ms`.
    pub fn event_at(&self, id: u64, time_ms: i64) -> NexmarkEvent {
        let mut rng = SmallRng::seed_from_u64(self.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let offset = id % EPOCH;
        if offset < PERSONS {
            self.person(id, time_ms, &mut rng)
        } else if offset < PERSONS + AUCTIONS {
            self.auction(id, time_ms, &mut rng)
        } else {
            self.bid(id, time_ms, &mut rng)
        }
    }

    fn person(&self, id: u64, t: i64, rng: &mut SmallRng) -> NexmarkEvent {
        let person = last_person(id) + FIRST_PERSON_ID;
        let name = format!(
            "{} {}",
            FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())],
            LAST_NAMES[rng.random_range(0..LAST_NAMES.len())]
        );
        let email = format!("{}@{}.com", letters(rng, 7), letters(rng, 5));
        let card: Vec<String> = (0..4)
            .map(|_| format!("{:04}", rng.random_range(0..10_000)))
            .collect();
        let card = card.join(" ");
        let city = US_CITIES[rng.random_range(0..US_CITIES.len())];
        let state = US_STATES[rng.random_range(0..US_STATES.len())];
        let size = 8 + name.len() + email.len() + card.len() + city.len() + state.len();
        let extra = extra(rng, size, 200);
        NexmarkEvent {
            kind: NexmarkKind::Person,
            key: person,
            json: format!(
                r#"{{"event_type":0,"dateTime":{t},"person":{{"id":{person},"name":"{name}","emailAddress":"{email}","creditCard":"{card}","city":"{city}","state":"{state}","dateTime":{t},"extra":"{extra}"}}}}"#
            ),
        }
    }

    fn auction(&self, id: u64, t: i64, rng: &mut SmallRng) -> NexmarkEvent {
        let auction = last_auction(id).max(0) as u64 + FIRST_AUCTION_ID;
        let seller = if rng.random_range(0..HOT_SELLER_RATIO) > 0 {
            last_person(id) / HOT_BATCH * HOT_BATCH
        } else {
            Self::some_person(id, rng)
        } + FIRST_PERSON_ID;
        let category = FIRST_CATEGORY_ID + rng.random_range(0..CATEGORIES);
        let initial = price(rng);
        let reserve = initial + price(rng);
        // Auctions last about as long as it takes the in-flight ones to be made, at one event
        // per millisecond: up to twice that.
        let horizon = (IN_FLIGHT_AUCTIONS * EPOCH / AUCTIONS) as i64;
        let expires = t + 1 + rng.random_range(0..2 * horizon);
        let (item, description) = (letters(rng, 20), letters(rng, 100));
        let extra = extra(rng, 48 + item.len() + description.len(), 500);
        NexmarkEvent {
            kind: NexmarkKind::Auction,
            key: auction,
            json: format!(
                r#"{{"event_type":1,"dateTime":{t},"auction":{{"id":{auction},"itemName":"{item}","description":"{description}","initialBid":{initial},"reserve":{reserve},"dateTime":{t},"expires":{expires},"seller":{seller},"category":{category},"extra":"{extra}"}}}}"#
            ),
        }
    }

    fn bid(&self, id: u64, t: i64, rng: &mut SmallRng) -> NexmarkEvent {
        let auction = if rng.random_range(0..HOT_AUCTION_RATIO) > 0 {
            last_auction(id).max(0) as u64 / HOT_BATCH * HOT_BATCH
        } else {
            Self::some_auction(id, rng)
        } + FIRST_AUCTION_ID;
        let bidder = if rng.random_range(0..HOT_BIDDER_RATIO) > 0 {
            last_person(id) / HOT_BATCH * HOT_BATCH + 1
        } else {
            Self::some_person(id, rng)
        } + FIRST_PERSON_ID;
        let price = price(rng);
        let (channel, url) = match rng.random_range(0..10) {
            hot @ 0..4 => {
                let channel = HOT_CHANNELS[hot];
                (
                    channel.to_owned(),
                    format!(
                        "https://www.nexmark.com/{}/item.htm?query=1",
                        channel.to_lowercase()
                    ),
                )
            }
            _ => {
                let n = rng.random_range(0..10_000);
                (
                    format!("channel-{n}"),
                    format!(
                        "https://www.nexmark.com/{}/{}/item.htm?query=1&channel_id={n}",
                        letters(rng, 5),
                        letters(rng, 5)
                    ),
                )
            }
        };
        let extra = extra(rng, 32, 100);
        NexmarkEvent {
            kind: NexmarkKind::Bid,
            key: bidder,
            json: format!(
                r#"{{"event_type":2,"dateTime":{t},"bid":{{"auction":{auction},"bidder":{bidder},"price":{price},"channel":"{channel}","url":"{url}","dateTime":{t},"extra":"{extra}"}}}}"#
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_person_three_auctions_and_46_bids_of_every_50_with_ids_in_order() {
        let events = NexmarkEvents::new(3);
        let mut kinds = [0usize; 3];
        let (mut persons, mut auctions) = (Vec::new(), Vec::new());
        for id in 0..5_000u64 {
            let e = events.event_at(id, 1_000 + id as i64);
            assert_eq!(
                e,
                events.event_at(id, 1_000 + id as i64),
                "random access agrees"
            );
            let v: serde_json::Value = serde_json::from_str(&e.json).expect("JSON");
            assert_eq!(v["event_type"], e.kind as i64);
            assert_eq!(v["dateTime"], 1_000 + id as i64);
            kinds[e.kind as usize] += 1;
            match e.kind {
                NexmarkKind::Person => persons.push(v["person"]["id"].as_u64().unwrap()),
                NexmarkKind::Auction => auctions.push(v["auction"]["id"].as_u64().unwrap()),
                NexmarkKind::Bid => {
                    let bid = &v["bid"];
                    let price = bid["price"].as_u64().unwrap();
                    assert!((100..=100_000_000).contains(&price), "{price}");
                    let auction = bid["auction"].as_u64().unwrap();
                    assert!(auction >= FIRST_AUCTION_ID);
                    assert!(auction <= FIRST_AUCTION_ID + last_auction(id) as u64 + ID_LEAD);
                    assert_eq!(bid["bidder"].as_u64(), Some(e.key));
                }
            }
        }
        assert_eq!(kinds, [100, 300, 4_600]);
        assert_eq!(persons, (1_000..1_100).collect::<Vec<_>>());
        assert_eq!(auctions, (1_000..1_300).collect::<Vec<_>>());
    }
}
