"""The pure domain model: attrs value objects, aggregates and events, one module per area."""
