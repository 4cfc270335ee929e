using Triage.Bot.Cards;
using Triage.Bot.Slack;

namespace Triage.Bot.Tests.Slack;

public sealed class SlackInboundTests
{
    [Fact]
    public void ParseInteraction_DocsExample_ReadsUserChannelAndAction()
    {
        // The documentation's example, with our own action id and value.
        var json = """{"type":"block_actions","team":{"id":"T9TK3CUKW","domain":"example"},"user":{"id":"UA8RXUSPL","username":"jtorrance","team_id":"T9TK3CUKW"},"api_app_id":"AABA1ABCD","token":"9s8d9as89d8as9d8as989","container":{"type":"message_attachment","message_ts":"1548261231.000200","attachment_id":1,"channel_id":"CBR2V3XEX","is_ephemeral":false,"is_app_unfurl":false},"trigger_id":"12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3","channel":{"id":"CBR2V3XEX","name":"review-updates"},"message":{"bot_id":"BAH5CA16Z","type":"message","text":"This content can't be displayed.","user":"UAJ2RU415","ts":"1548261231.000200"},"response_url":"https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209","actions":[{"action_id":"ack","block_id":"=qXel","text":{"type":"plain_text","text":"View","emoji":true},"value":"42|ack","type":"button","action_ts":"1548426417.840180"}]}""";
        var body = "payload=" + Uri.EscapeDataString(json);

        var action = Assert.Single(SlackInbound.ParseInteraction(body));

        Assert.Equal("UA8RXUSPL", action.UserId);
        Assert.Equal("CBR2V3XEX", action.ChannelId);
        Assert.Equal("1548261231.000200", action.MessageTs);
        Assert.Equal("1548426417.840180", action.ActionTs);
        Assert.Equal(new CardActionPayload(42, "ack"), action.Payload);
    }

    [Fact]
    public void ParseInteraction_StaticSelect_ReadsSelectedOption()
    {
        var json = """{"type":"block_actions","user":{"id":"U1"},"container":{"type":"message","message_ts":"1.2","channel_id":"C1"},"actions":[{"type":"static_select","action_id":"escalate","action_ts":"3.4","selected_option":{"text":{"type":"plain_text","text":"To SOC"},"value":"42|escalate|soc"}}]}""";

        var action = Assert.Single(SlackInbound.ParseInteraction("payload=" + Uri.EscapeDataString(json)));

        Assert.Equal("C1", action.ChannelId);
        Assert.Equal(new CardActionPayload(42, "escalate", "soc"), action.Payload);
    }

    [Fact]
    public void ParseInteraction_NoPayload_Throws()
    {
        Assert.Throws<FormatException>(() => SlackInbound.ParseInteraction("token=abc"));
    }

    [Fact]
    public void ParseCommand_BoltSample_ReadsFields()
    {
        var command = SlackInbound.ParseCommand(
            "token=verification_token&team_id=T111&team_domain=test-domain&channel_id=C111&channel_name=random&user_id=W111&user_name=primary-owner&command=%2Ftriage&text=ack+42&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT111%2F111%2Fxxxxx&trigger_id=111.111.xxx");

        Assert.Equal(("/triage", "ack 42", "W111", "C111"), (command.Command, command.Text, command.UserId, command.ChannelId));
    }
}
