"""The agent's tools: execute_bash and str_replace_editor on a persistent shell session
of the sandbox (sandbox.ShellSession), think, finish (agent.tools.Toolbox); one typed
record per tool call from native or text-form calls (agent.calls); the observation texts
(agent.observations). The tools' JSON schemas and the wire-format parsing live in
swelego_ray.schema (tools_schema, tool_calls), so the trajectory readers need nothing from
the agent."""
