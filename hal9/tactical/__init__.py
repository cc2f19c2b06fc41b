"""L4 tactical coordination: goals from L5 become scheduled, resource-allocated work on L3 units."""
