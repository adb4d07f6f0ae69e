//! Encryption and hostile input: a node with the wrong key is refused, a
//! plaintext node is refused by an encrypted cluster, and no input bytes make
//! the core panic.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{converge, state_of};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serfer_engine::memberlist::{Config, Keyring, Memberlist, Output, StreamOutcome};
use serfer_engine::sim::{sim_addr, sim_name, Sim, SimConfig};
use serfer_engine::Instant;
use serfer_wire::frame::{self, PacketOptions, PushPull, StreamMessage};
use serfer_wire::memberlist::{
    Ack, Alive, Dead, IndirectPing, Message, Nack, Ping, PushNodeState, Suspect,
};

const KEY: [u8; 32] = [7; 32];
const OTHER_KEY: [u8; 16] = [9; 16];

fn keyed(sim: &Sim, i: usize, key: Option<&[u8]>) -> Config {
    let mut c = sim.lan_config(i);
    if let Some(key) = key {
        c.keyring = Keyring::new(key.to_vec(), Vec::new()).unwrap();
    }
    c
}

#[test]
fn wrong_key_and_plaintext_are_refused() {
    let mut sim = Sim::new(SimConfig {
        seed: 5,
        ..SimConfig::default()
    });
    for i in 0..3 {
        let c = keyed(&sim, i, Some(&KEY));
        sim.add_node(c).unwrap();
    }
    // A rotated keyring still talks to the others: node 3 encrypts with a new
    // primary but also holds the cluster key, which the cluster decrypts with.
    let mut rotated = keyed(&sim, 3, Some(&OTHER_KEY));
    rotated.keyring.install(KEY.to_vec()).unwrap();
    rotated.keyring.use_key(&KEY).unwrap();
    sim.add_node(rotated).unwrap();
    let wrong = keyed(&sim, 4, Some(&OTHER_KEY));
    sim.add_node(wrong).unwrap();
    let plain = keyed(&sim, 5, None);
    sim.add_node(plain).unwrap();
    for i in 1..6 {
        sim.join(i, &[0]);
    }
    // The keyed nodes converge as usual (≤ 1 s, see the join test); the others
    // get nowhere: their push/pull and packets do not decrypt, and they cannot
    // read the cluster's answers. 30 s covers a push/pull period too.
    converge(&mut sim, &[0, 1, 2, 3], Duration::from_secs(2));
    sim.run_for(Duration::from_secs(30));
    for outsider in [4, 5] {
        for member in 0..4 {
            assert_eq!(
                state_of(&sim, member, outsider),
                None,
                "node {member} took in node {outsider}"
            );
            assert_eq!(
                state_of(&sim, outsider, member),
                None,
                "node {outsider} took in node {member}"
            );
        }
    }
    assert!(sim.core(0).stats().streams_refused >= 2);
    // Injected packets from the outsiders are dropped as undecryptable.
    let alive = Message::Alive(Alive {
        incarnation: 9,
        node: sim_name(5),
        addr: vec![127, 0, 0, 6],
        port: 7946,
        meta: Vec::new(),
        vsn: Some([1, 5, 2, 2, 5, 5]),
    })
    .encode()
    .unwrap();
    let before = sim.core(0).stats().packets_dropped;
    sim.inject_packet(5, 0, alive);
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.core(0).stats().packets_dropped, before + 1);
    assert_eq!(state_of(&sim, 0, 5), None);
}

/// Valid messages of every kind, to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let alive = Message::Alive(Alive {
        incarnation: 3,
        node: "x".into(),
        addr: vec![127, 0, 0, 9],
        port: 7946,
        meta: b"meta".to_vec(),
        vsn: Some([1, 5, 2, 2, 5, 5]),
    })
    .encode()
    .unwrap();
    let msgs = vec![
        Message::Ping(Ping {
            seq_no: 1,
            node: "fuzz".into(),
            source_addr: vec![127, 0, 0, 9],
            source_port: 7946,
            source_node: "x".into(),
        })
        .encode()
        .unwrap(),
        Message::IndirectPing(IndirectPing {
            seq_no: 2,
            target: vec![127, 0, 0, 8],
            port: 7946,
            node: "y".into(),
            nack: true,
            ..IndirectPing::default()
        })
        .encode()
        .unwrap(),
        Message::Ack(Ack {
            seq_no: 1,
            payload: Some(vec![1, 2, 3]),
        })
        .encode()
        .unwrap(),
        Message::Nack(Nack { seq_no: 1 }).encode().unwrap(),
        Message::Suspect(Suspect {
            incarnation: 1,
            node: "fuzz".into(),
            from: "x".into(),
        })
        .encode()
        .unwrap(),
        Message::Dead(Dead {
            incarnation: 1,
            node: "x".into(),
            from: "x".into(),
        })
        .encode()
        .unwrap(),
        Message::User(b"serf".to_vec()).encode().unwrap(),
        alive.clone(),
    ];
    let mut out = msgs.clone();
    out.push(
        frame::encode_packet(
            &msgs,
            PacketOptions {
                compress: true,
                crc: true,
            },
        )
        .unwrap(),
    );
    out.push(
        frame::encode_packet(
            &msgs[..3],
            PacketOptions {
                compress: false,
                crc: true,
            },
        )
        .unwrap(),
    );
    let push = StreamMessage::PushPull(PushPull {
        join: true,
        nodes: vec![PushNodeState {
            name: "x".into(),
            addr: vec![127, 0, 0, 9],
            port: 7946,
            meta: Vec::new(),
            incarnation: 1,
            state: serfer_wire::memberlist::NodeState::Alive,
            vsn: Some([1, 5, 2, 2, 5, 5]),
        }],
        user_state: vec![1, 2, 3],
    });
    out.push(push.encode_stream(true).unwrap());
    out.push(push.encode_stream(false).unwrap());
    out
}

fn mutate(rng: &mut SmallRng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    match rng.gen_range(0..6) {
        0 => {
            let n = rng.gen_range(0..300);
            (0..n).map(|_| rng.gen()).collect()
        }
        1 if !b.is_empty() => {
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..b.len());
                b[i] ^= 1 << rng.gen_range(0..8);
            }
            b
        }
        2 if !b.is_empty() => {
            b.truncate(rng.gen_range(0..b.len()));
            b
        }
        3 => {
            let i = rng.gen_range(0..=b.len());
            let junk: Vec<u8> = (0..rng.gen_range(1..16)).map(|_| rng.gen()).collect();
            b.splice(i..i, junk);
            b
        }
        4 if !b.is_empty() => {
            let i = rng.gen_range(0..b.len());
            b[i] = [0x00, 0xff, 0x7f, 0x80, 0xc0, 0xda, 0xdb, 0xdf][rng.gen_range(0..8)];
            b
        }
        _ => b,
    }
}

#[test]
fn garbage_never_panics() {
    // 20,000 inputs per configuration, seeded: random bytes and mutations of
    // valid packets and streams, through every input path of a plaintext core
    // and of an encrypted one (whose inputs are sealed with its key, so the
    // mutations reach the decoder).
    let seeds = seeds();
    let mut rng = SmallRng::seed_from_u64(0xf022);
    let from: SocketAddr = sim_addr(99);
    for encrypted in [false, true] {
        let mut config = Config::lan("fuzz", sim_addr(0));
        if encrypted {
            config.keyring = Keyring::new(KEY.to_vec(), Vec::new()).unwrap();
        }
        let mut core = Memberlist::new(config, Instant::ZERO).unwrap();
        // Valid `alive`s among the inputs give it peers, so probes, indirect
        // probes and gossip run too.
        let mut now = Instant::ZERO;
        for i in 0..20_000u32 {
            now += Duration::from_millis(3);
            let seed = &seeds[rng.gen_range(0..seeds.len())];
            let mut bytes = mutate(&mut rng, seed);
            if encrypted && rng.gen_bool(0.9) {
                let nonce: [u8; 12] = rng.gen();
                bytes = serfer_wire::crypto::encrypt_packet_with_nonce(
                    serfer_wire::crypto::Version::V1,
                    &KEY,
                    &nonce,
                    &bytes,
                )
                .unwrap();
            }
            match i % 4 {
                0 | 1 => {
                    let _ = core.handle_packet(now, from, &bytes);
                }
                2 => {
                    let _ = core.handle_stream(now, from, &bytes);
                }
                _ => {
                    let _ = core.handle_push_pull_reply(now, from, &bytes, i % 8 == 3);
                    let _ = core.handle_stream_ping_reply(now, from, &bytes);
                }
            }
            if core.poll_timeout().is_some_and(|t| t <= now) {
                core.tick(now);
            }
            while let Some(out) = core.poll_output() {
                if let Output::Packet { bytes, .. } = out {
                    assert!(bytes.len() <= 1400, "oversized packet of {}", bytes.len());
                }
            }
        }
        // The stream reader asks for more on a prefix rather than failing.
        if !encrypted {
            let push = &seeds[seeds.len() - 1];
            let outcome = core.handle_stream(now, from, &push[..push.len() / 2]);
            assert_eq!(outcome, StreamOutcome::NeedMore);
        }
        println!(
            "encrypted={encrypted}: {} packets dropped, {} bad messages, {} members",
            core.stats().packets_dropped,
            core.stats().message_errors,
            core.num_members()
        );
    }
}
