#![no_main]
//! The request screen: any bytes as any BTI method's request either decode
//! (and their strings are checked) or are malformed; never a panic.
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

fn inputs() -> &'static Vec<MessageDescriptor> {
    static I: OnceLock<Vec<MessageDescriptor>> = OnceLock::new();
    I.get_or_init(|| {
        let pool = DescriptorPool::decode(bti_proto::FILE_DESCRIPTOR_SET).unwrap();
        pool.services()
            .flat_map(|s| s.methods().map(|m| m.input()).collect::<Vec<_>>())
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else { return };
    let inputs = inputs();
    let input = inputs[usize::from(which) % inputs.len()].clone();
    if let Ok(m) = DynamicMessage::decode(input, bytes) {
        let mut v = Vec::new();
        bti_runtime::screen::check_strings(&m, "", &mut v);
    }
});
