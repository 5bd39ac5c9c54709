"""The HTTP gateway: an OpenAI-compatible API in front of RequestWorkflow."""
