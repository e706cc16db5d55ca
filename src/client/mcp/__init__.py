"""`meshpeer mcp`: the MCP server Claude Code starts for each session (claude-code.md)."""
