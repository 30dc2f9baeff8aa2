"""The staff web console (issue 5), served by the Rasa server as an input channel.

Enable it in bot/credentials.yml with `channels.staffweb.StaffConsoleChannel:`; open
/webhooks/staffconsole/cases. See channels/staffweb/channel.py and README, "Staff web console".
"""

from channels.staffweb.channel import StaffConsoleChannel

__all__ = ["StaffConsoleChannel"]
