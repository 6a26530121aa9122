//! Lists every test node's key material, one line each: `<name> <secret hex> <public key
//! hex> <device id>`. `scripts/check-no-test-keys.sh` scans the boot images for them.

use dsoftbus_testnodes::TEST_NODES;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn main() {
    for n in TEST_NODES.iter() {
        println!(
            "{} {} {} {}",
            n.name,
            hex(&n.test_secret()),
            hex(&n.keys().public_key()),
            n.device_id()
        );
    }
}
