"""Control plane of codeinstruct: the InstructionDataset operator (kopf)."""
