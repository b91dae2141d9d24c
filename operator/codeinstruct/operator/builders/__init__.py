"""Pure builders: manifests (plain dicts) of the children of an InstructionDataset."""
