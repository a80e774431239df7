"""The editor's local decoder: forward passes (HF or lean Llama), KV reuse, the decode loop."""
