// A tiny test runner: each TEST registers itself, CHECK records failures, main runs them all.
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "inventory.h"
#include "loot.h"
#include "player.h"
#include "world.h"

namespace {

struct TestCase
{
    const char* name;
    std::function<void()> body;
};

std::vector<TestCase>& Registry()
{
    static std::vector<TestCase> tests;
    return tests;
}

int g_failures = 0;

struct Register
{
    Register(const char* name, std::function<void()> body) { Registry().push_back({name, std::move(body)}); }
};

} // namespace

#define TEST(name)                                        \
    static void test_##name();                            \
    static Register register_##name(#name, test_##name);  \
    static void test_##name()

#define CHECK(cond)                                                              \
    do                                                                           \
    {                                                                            \
        if (!(cond))                                                             \
        {                                                                        \
            std::printf("  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++g_failures;                                                        \
        }                                                                        \
    } while (0)

using namespace minirealm;

TEST(inventory_stacks_then_uses_free_slots)
{
    Inventory bags;
    CHECK(bags.AddItem(2589, 25) == 0);
    CHECK(bags.CountItem(2589) == 25);
    CHECK(bags.FreeSlots() == Inventory::kSlots - 2);
    CHECK(bags.RemoveItem(2589, 6));
    CHECK(bags.CountItem(2589) == 19);
    CHECK(!bags.RemoveItem(2589, 100));
    CHECK(bags.CountItem(2589) == 19);
}

TEST(inventory_reports_what_does_not_fit)
{
    Inventory bags;
    uint32_t all = Inventory::kSlots * Inventory::kMaxStack;
    CHECK(bags.AddItem(858, all + 7) == 7);
    CHECK(bags.FreeSlots() == 0);
}

TEST(loot_items_are_taken_once)
{
    Loot loot;
    CHECK(loot.Fill(2));
    CHECK(loot.Size() == 3);
    LootItem* first = loot.TakeItem(0);
    CHECK(first != nullptr && first->itemId == 2589);
    CHECK(loot.TakeItem(0) == nullptr);
    CHECK(loot.TakeItem(9) == nullptr);
    CHECK(!loot.IsLooted());
    loot.TakeItem(1);
    loot.TakeItem(2);
    CHECK(loot.IsLooted());
    CHECK(!loot.Fill(99));
}

TEST(corpses_decay_and_the_living_stay)
{
    World world;
    world.SpawnCreature(1, "wolf", 1);
    world.SpawnCreature(2, "murloc", 3);
    CHECK(world.FindCreature(1)->Kill(world.Now()));
    CHECK(world.Update(World::kCorpseDecaySeconds - 1) == 0);
    CHECK(world.Update(1) == 1);
    CHECK(world.FindCreature(1) == nullptr);
    CHECK(world.FindCreature(2) != nullptr);
}

TEST(player_loots_a_fresh_corpse)
{
    World world;
    world.SpawnCreature(1, "wolf", 1);
    Player* player = world.AddPlayer(10, "Arthas");
    std::string error;
    CHECK(!player->SendLoot(world, 1, error));
    CHECK(error == "creature is alive");
    world.FindCreature(1)->Kill(0);
    CHECK(player->SendLoot(world, 1, error));
    CHECK(player->StoreLootItem(world, 0, error));
    CHECK(player->GetInventory().CountItem(2589) == 2);
    CHECK(!player->StoreLootItem(world, 0, error));
    CHECK(player->StoreLootItem(world, 1, error));
    CHECK(player->GetLootGUID() == 0); // everything taken: the window closes
}

TEST(auras_expire)
{
    Player player(10, "Jaina");
    player.AddAura(467, 30);
    player.AddAura(467, 10); // a shorter re-cast does not shorten it
    player.UpdateAuras(20);
    CHECK(player.HasAura(467));
    player.UpdateAuras(10);
    CHECK(!player.HasAura(467));
    CHECK(player.AuraCount() == 0);
}

TEST(commands_report_errors)
{
    World world;
    std::ostringstream out;
    CommandProcessor processor(world, out);
    CHECK(processor.Execute("# comment"));
    CHECK(processor.Execute(""));
    CHECK(!processor.Execute("dance 10"));
    CHECK(!processor.Execute("take 10 0"));
    CHECK(processor.Execute("join 10 Arthas"));
    CHECK(!processor.Execute("take 10 0"));
    CHECK(out.str().find("error: no loot window open") != std::string::npos);
}

int main()
{
    for (const TestCase& test : Registry())
    {
        int before = g_failures;
        test.body();
        std::printf("%s %s\n", g_failures == before ? "ok  " : "FAIL", test.name);
    }
    std::printf("%zu tests, %d failed checks\n", Registry().size(), g_failures);
    return g_failures == 0 ? 0 : 1;
}
