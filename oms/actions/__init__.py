"""What every state machine of the OMS shares: how an action is declared, and the engine
that runs declared actions on locked rows."""
