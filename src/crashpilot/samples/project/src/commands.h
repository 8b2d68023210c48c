// Reads one command line of a session script and runs it against the world.
//
//   spawn <creature-guid> <name> <loot-table>    kill <player-guid> <creature-guid>
//   join <player-guid> <name>                     loot <player-guid> <creature-guid>
//   take <player-guid> <loot-slot>                release <player-guid>
//   aura <player-guid> <spell-id> <seconds>       tick <seconds>
//   bags <player-guid> <item-id>                  # comment
#pragma once

#include <ostream>
#include <sstream>
#include <string>

#include "world.h"

namespace minirealm {

class CommandProcessor
{
public:
    CommandProcessor(World& world, std::ostream& out) : m_world(world), m_out(out) {}

    // Runs one line; false (with a message written to the output) when the command failed.
    bool Execute(const std::string& line);

private:
    using Handler = bool (CommandProcessor::*)(std::istringstream& args);

    bool HandleSpawn(std::istringstream& args);
    bool HandleJoin(std::istringstream& args);
    bool HandleKill(std::istringstream& args);
    bool HandleLoot(std::istringstream& args);
    bool HandleTake(std::istringstream& args);
    bool HandleRelease(std::istringstream& args);
    bool HandleAura(std::istringstream& args);
    bool HandleTick(std::istringstream& args);
    bool HandleBags(std::istringstream& args);

    Player* ReadPlayer(std::istringstream& args);
    bool Fail(const std::string& message);

    World& m_world;
    std::ostream& m_out;
};

} // namespace minirealm
