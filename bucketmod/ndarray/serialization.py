"""MXNet 1.x's binary NDArray-list format (`mx.nd.save`/`mx.nd.load`). Filled in by the serialization work."""
