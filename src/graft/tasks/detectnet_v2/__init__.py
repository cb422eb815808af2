"""DetectNet_v2 object detection (TLT gridbox): spec, network, targets, cost, clustering."""
