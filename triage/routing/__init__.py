"""Where a mention goes and how urgent it is: priority with reasons, routing rules, queue and rule settings,
placement.
"""
