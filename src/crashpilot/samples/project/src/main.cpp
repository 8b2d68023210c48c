// minirealm: replays a session script (one command per line) against a tiny game world.
//
//   minirealm <script>      exit status 0 when every command succeeded, 1 otherwise, 2 on usage
#include <fstream>
#include <iostream>
#include <string>

#include "commands.h"
#include "world.h"

namespace {

int RunScript(std::istream& script, std::ostream& out)
{
    minirealm::World world;
    minirealm::CommandProcessor processor(world, out);
    int failures = 0;
    std::string line;
    while (std::getline(script, line))
        if (!processor.Execute(line))
            ++failures;
    return failures == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2)
    {
        std::cerr << "usage: " << argv[0] << " <script>\n";
        return 2;
    }
    std::ifstream script(argv[1]);
    if (!script)
    {
        std::cerr << "cannot open " << argv[1] << '\n';
        return 2;
    }
    return RunScript(script, std::cout);
}
