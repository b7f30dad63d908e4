#!/bin/sh
# A stand-in for Claude Code, for the Node runner test (t260): ignores its
# arguments (the real CLI's flags and the prompt), writes one file in the
# worktree it runs in, and prints a valid stream-json conversation.
printf 'Notes written by the stand-in agent.\n' >NOTES.md
cat <<'JSON'
{"type":"system","subtype":"init","session_id":"stand-in-session-1","model":"stand-in"}
{"type":"assistant","message":{"content":[{"type":"tool_use","id":"tu1","name":"Write","input":{"file_path":"NOTES.md"}}]}}
{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"tu1","is_error":false}]}}
{"type":"assistant","message":{"content":[{"type":"text","text":"Wrote NOTES.md as asked."}]}}
{"type":"result","subtype":"success","is_error":false,"duration_ms":12,"total_cost_usd":0,"result":"Wrote NOTES.md as asked."}
JSON
exit 0
