"""wharfied's use cases (containers, exec, images, events, logs, stats), pure translations."""
