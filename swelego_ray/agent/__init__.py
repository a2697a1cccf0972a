"""The agent: observations of its tools. The tools' JSON schemas and tool-call parsing are
part of the trajectory wire format and live in swelego_ray.schema (tools_schema,
tool_calls), so the trajectory readers need nothing from the agent."""
