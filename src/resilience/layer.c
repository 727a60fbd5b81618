int tern__resilience_layer;
