//! virtio-net over modern virtio PCI: written next.
