using System.Text;
using Sensor.Kernel;

namespace Sensor.Tests.Kernel;

public sealed class DecodedStringsTests
{
    [Fact]
    public void Get_SameBytesTwice_ReturnsTheSameInstance()
    {
        var strings = new DecodedStrings();

        var first = strings.Get("/bin/true"u8);
        var second = strings.Get("/bin/true"u8.ToArray());

        Assert.Equal("/bin/true", first);
        Assert.Same(first, second);
    }

    [Fact]
    public void Get_MoreDistinctStringsThanSlots_EachComesBackAsItsOwnText()
    {
        // More strings than slots: collisions replace slots, and a slot must never answer for other bytes.
        var strings = new DecodedStrings();
        var texts = Enumerable.Range(0, DecodedStrings.Slots * 3).Select(i => $"/usr/lib/x{i}").ToArray();

        foreach (var text in texts)
            Assert.Equal(text, strings.Get(Encoding.UTF8.GetBytes(text)));
        foreach (var text in texts.Reverse())
            Assert.Equal(text, strings.Get(Encoding.UTF8.GetBytes(text)));
    }

    [Fact]
    public void Get_NonAsciiAndEmpty_DecodeAsUtf8()
    {
        var strings = new DecodedStrings();

        Assert.Equal("/tmp/été", strings.Get(Encoding.UTF8.GetBytes("/tmp/été")));
        Assert.Equal("/tmp/été", strings.Get(Encoding.UTF8.GetBytes("/tmp/été")));
        Assert.Equal("/tmp/ete", strings.Get("/tmp/ete"u8));
        Assert.Equal("", strings.Get([]));
    }

    [Fact]
    public void Get_LongerThanCached_IsDecodedEachTime()
    {
        var strings = new DecodedStrings();
        var bytes = Encoding.UTF8.GetBytes(new string('a', DecodedStrings.MaxCachedBytes + 1));

        var first = strings.Get(bytes);
        var second = strings.Get(bytes);

        Assert.Equal(first, second);
        Assert.NotSame(first, second);
    }

    [Fact]
    public void SplitArgv_WithTable_ReusesRepeatedWordsAndKeepsEmptyOnes()
    {
        var strings = new DecodedStrings();

        var a = KernelEvent.SplitArgv("sh\0-c\0\0x\0"u8, strings);
        var b = KernelEvent.SplitArgv("sh\0-c\0\0x\0"u8, strings);

        Assert.Equal(["sh", "-c", "", "x"], a);
        Assert.Same(a[0], b[0]);
        Assert.Equal(["sh", "-c", "", "x"], KernelEvent.SplitArgv("sh\0-c\0\0x"u8));
    }
}
