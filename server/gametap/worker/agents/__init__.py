"""Agents: researchers' controllers driving player slots (AgentService.Play)."""
