"""The front ends over `Assistant`: the command line, the chat UI, feedback and exports."""
