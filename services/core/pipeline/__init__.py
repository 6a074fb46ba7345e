"""The typed pipeline graph: the KFP IR converted once, at the edge."""
