"""What every state machine of the OMS shares: how an action is declared and the engine that
runs declared actions on locked rows; actors, domain errors, the transition log, the action
graph, row guards, admin actions and deadlock retries."""
