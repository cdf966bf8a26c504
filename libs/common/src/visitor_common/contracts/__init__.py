"""HTTP contracts between services (request and response models, versioned by path ``/v1``)."""
